// Host-side tests of the Modbus RTU framing and the motion admission rules.
#include <doctest/doctest.h>

#include <string.h>

#include "../focus_controller/crc.h"
#include "../focus_controller/modbus.h"
#include "../focus_controller/motion.h"

using namespace modbus;

TEST_CASE("read-holding request matches the Modbus spec example") {
  uint8_t req[8];
  CHECK(build_read_holding(req, 1, 0x0000, 2) == 8);
  const uint8_t expect[8] = {0x01, 0x03, 0x00, 0x00, 0x00, 0x02, 0xC4, 0x0B};
  CHECK(memcmp(req, expect, 8) == 0);
}

static uint8_t make_reply(uint8_t *b, uint8_t slave, uint32_t value) {
  b[0] = slave; b[1] = 3; b[2] = 4;
  b[3] = (uint8_t)(value >> 24); b[4] = (uint8_t)(value >> 16);
  b[5] = (uint8_t)(value >> 8); b[6] = (uint8_t)value;
  uint16_t c = crc16_modbus(b, 7);
  b[7] = (uint8_t)c; b[8] = (uint8_t)(c >> 8);
  return 9;
}

TEST_CASE("reply parsing: partial, ok, crc, address, exception") {
  uint8_t b[16];
  uint16_t regs[2];
  uint8_t exc = 0;
  uint8_t n = make_reply(b, 1, 123456);
  for (uint8_t i = 0; i < n; ++i) CHECK(parse_read_holding(b, i, 1, 2, regs, &exc) == INCOMPLETE);
  REQUIRE(parse_read_holding(b, n, 1, 2, regs, &exc) == OK);
  CHECK(registers_value(regs, 2) == 123456u);
  b[5] ^= 0x10;
  CHECK(parse_read_holding(b, n, 1, 2, regs, &exc) == BAD_CRC);
  n = make_reply(b, 2, 5);
  CHECK(parse_read_holding(b, n, 1, 2, regs, &exc) == BAD_ADDRESS);
  uint8_t e[5] = {1, 0x83, 0x02, 0, 0};
  uint16_t c = crc16_modbus(e, 3);
  e[3] = (uint8_t)c; e[4] = (uint8_t)(c >> 8);
  CHECK(parse_read_holding(e, 5, 1, 2, regs, &exc) == EXCEPTION);
  CHECK(exc == 2);
  uint16_t one[1] = {0x1234};
  CHECK(registers_value(one, 1) == 0x1234u);
}

TEST_CASE("moves are admitted only when homed, idle, not e-stopped and within soft limits") {
  MotionState s = {100, 0, 1000, true, false, false};
  CHECK(check_move(s, 0) == proto::E_OK);
  CHECK(check_move(s, 1000) == proto::E_OK);
  CHECK(check_move(s, -1) == proto::E_RANGE);
  CHECK(check_move(s, 1001) == proto::E_RANGE);
  s.moving = true;
  CHECK(check_move(s, 10) == proto::E_BUSY);
  s.moving = false; s.homed = false;
  CHECK(check_move(s, 10) == proto::E_NOTHOMED);
  s.estop = true;
  CHECK(check_move(s, 10) == proto::E_ESTOP);
  int32_t t = 0;
  CHECK(relative_target(2147483000, 1000, &t) == proto::E_RANGE);
  CHECK(relative_target(5, -10, &t) == proto::E_OK);
  CHECK(t == -5);
  CHECK(check_limits(0, 0) == proto::E_RANGE);
  CHECK(check_limits(-10, 10) == proto::E_OK);
  CHECK(limit_blocks(true, true, false) == false);
  CHECK(limit_blocks(false, true, false) == true);
  CHECK(limit_blocks(true, false, true) == true);
}

TEST_CASE("settings record detects blank or corrupted EEPROM") {
  Settings s;
  settings_defaults(&s);
  CHECK(settings_valid(s));
  s.speed = 1234;
  CHECK_FALSE(settings_valid(s));
  settings_seal(&s);
  CHECK(settings_valid(s));
  Settings blank;
  memset(&blank, 0xFF, sizeof blank);
  CHECK_FALSE(settings_valid(blank));
}
