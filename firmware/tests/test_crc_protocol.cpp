// Host-side tests of the host-link framing: CRCs, line assembly/resync, parsing, replies.
#include <doctest/doctest.h>

#include <string.h>

#include <string>

#include "../focus_controller/crc.h"
#include "../focus_controller/protocol.h"

using namespace proto;

static std::string frame(const std::string &payload) {
  char buf[96];
  Writer w(buf, sizeof buf);
  w.str(payload.c_str());
  w.finish();
  return std::string(buf);
}

TEST_CASE("CRC check values") {
  const uint8_t s[] = "123456789";
  CHECK(crc16_ccitt(s, 9) == 0x29B1);
  CHECK(crc16_modbus(s, 9) == 0x4B37);
}

TEST_CASE("writer frames a payload with CRC and newline") {
  std::string f = frame("7 POS");
  REQUIRE(f.size() == 5 + 6);
  CHECK(f.substr(0, 6) == "7 POS*");
  CHECK(f.back() == '\n');
  char buf[64];
  Writer w(buf, sizeof buf);
  begin_err(w, 12, E_RANGE);
  w.finish();
  CHECK(std::string(buf).rfind("12 ERR 5 RANGE*", 0) == 0);
  Writer n(buf, sizeof buf);
  n.num(-2147483647 - 1).sp().num(0).sp().unum(4294967295u);
  CHECK(std::string(buf) == "-2147483648 0 4294967295");
}

TEST_CASE("writer refuses to overflow its buffer") {
  char buf[12];
  Writer w(buf, sizeof buf);
  w.str("0123456789");
  CHECK_FALSE(w.ok());
  CHECK(w.finish() == 0);
}

TEST_CASE("parse a valid frame") {
  std::string f = frame("42 MOVE -150");
  Request r;
  CHECK(parse_frame(f.c_str(), (uint8_t)(f.size() - 1), &r) == E_OK);
  CHECK(r.seq == 42);
  CHECK(cmd_is(r, "MOVE"));
  CHECK_FALSE(cmd_is(r, "MOV"));
  CHECK_FALSE(cmd_is(r, "MOVER"));
  CHECK(r.argc == 1);
  CHECK(r.args[0] == -150);
  std::string g = frame("1 LIM -5 2000");
  CHECK(parse_frame(g.c_str(), (uint8_t)(g.size() - 1), &r) == E_OK);
  CHECK(r.argc == 2);
  CHECK(r.args[1] == 2000);
}

TEST_CASE("every single-byte corruption of a frame is rejected") {
  std::string f = frame("31 MOVE 1234");
  const uint8_t len = (uint8_t)(f.size() - 1);
  int rejected = 0, total = 0;
  for (uint8_t pos = 0; pos < len; ++pos) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string g = f;
      g[pos] = (char)(g[pos] ^ (1 << bit));
      if (g[pos] == '\n') continue;  // becomes a line split, covered below
      Request r;
      ++total;
      if (parse_frame(g.c_str(), len, &r) != E_OK) ++rejected;
    }
  }
  CHECK(rejected == total);
  // Dropping any one byte is rejected too.
  for (uint8_t pos = 0; pos < len; ++pos) {
    std::string g = f.substr(0, pos) + f.substr(pos + 1);
    Request r;
    CHECK(parse_frame(g.c_str(), (uint8_t)(len - 1), &r) != E_OK);
  }
}

TEST_CASE("malformed but intact frames are syntax or argument errors") {
  Request r;
  std::string a = frame("MOVE 5");
  CHECK(parse_frame(a.c_str(), (uint8_t)(a.size() - 1), &r) == E_SYNTAX);
  std::string b = frame("5 move 5");
  CHECK(parse_frame(b.c_str(), (uint8_t)(b.size() - 1), &r) == E_SYNTAX);
  std::string c = frame("5 MOVE x");
  CHECK(parse_frame(c.c_str(), (uint8_t)(c.size() - 1), &r) == E_ARG);
  std::string d = frame("5 MOVE 99999999999");
  CHECK(parse_frame(d.c_str(), (uint8_t)(d.size() - 1), &r) == E_ARG);
  std::string e = frame("70000 POS");
  CHECK(parse_frame(e.c_str(), (uint8_t)(e.size() - 1), &r) == E_SYNTAX);
  std::string g = frame("5 A 1 2 3 4 5");
  CHECK(parse_frame(g.c_str(), (uint8_t)(g.size() - 1), &r) == E_ARG);
  const char *lower = "5 POS*abcd";
  CHECK(parse_frame(lower, (uint8_t)strlen(lower), &r) == E_CRC);
  CHECK(parse_frame("5 POS", 5, &r) == E_CRC);
}

static std::string feed_all(LineAssembler &a, const std::string &s, int *overflows) {
  std::string last;
  for (char c : s) {
    LineAssembler::Event e = a.feed((uint8_t)c);
    if (e == LineAssembler::LINE) last = std::string(a.line(), a.length());
    if (e == LineAssembler::OVERFLOW) ++*overflows;
  }
  return last;
}

TEST_CASE("line assembler resynchronises on newline and reports overflow") {
  LineAssembler a;
  int over = 0;
  CHECK(feed_all(a, "garbage\n", &over) == "garbage");
  CHECK(feed_all(a, "\n\n1 POS*0000\r\n", &over) == "1 POS*0000");
  std::string longline(200, 'x');
  CHECK(feed_all(a, longline + "\n", &over) == "");
  CHECK(over == 1);
  CHECK(feed_all(a, "2 POS*0000\n", &over) == "2 POS*0000");
  CHECK(over == 1);
}
