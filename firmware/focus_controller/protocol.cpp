#include "protocol.h"

#include "crc.h"

namespace proto {

const char *error_word(uint8_t code) {
  switch (code) {
    case E_OK: return "OK";
    case E_CRC: return "CRC";
    case E_SYNTAX: return "SYNTAX";
    case E_UNKNOWN: return "UNKNOWN";
    case E_ARG: return "ARG";
    case E_RANGE: return "RANGE";
    case E_BUSY: return "BUSY";
    case E_NOTHOMED: return "NOTHOMED";
    case E_ESTOP: return "ESTOP";
    case E_SENSOR: return "SENSOR";
    case E_LIMIT: return "LIMIT";
  }
  return "ERROR";
}

LineAssembler::Event LineAssembler::feed(uint8_t c) {
  if (done_) { len_ = 0; done_ = false; }
  if (c == '\n') {
    bool over = overflow_;
    buf_[len_] = 0;
    overflow_ = false;
    if (over) { len_ = 0; return OVERFLOW; }
    if (len_ > 0 && buf_[len_ - 1] == '\r') buf_[--len_] = 0;  // tolerate CRLF terminals
    if (len_ == 0) return NONE;   // blank lines are idle noise, used by hosts to resync
    done_ = true;
    return LINE;                   // caller reads line()/length(), then the next feed resets
  }
  if (overflow_) return NONE;
  if (len_ >= kMaxLine) { overflow_ = true; len_ = 0; return NONE; }
  buf_[len_++] = (char)c;
  return NONE;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;   // lower case is not accepted: one spelling per frame keeps CRCs unambiguous
}

Error check_frame(const char *line, uint8_t len, uint8_t *payload_len, uint16_t *crc) {
  if (len < 6 || line[len - 5] != '*') return E_CRC;
  uint16_t got = 0;
  for (uint8_t i = len - 4; i < len; ++i) {
    int v = hexval(line[i]);
    if (v < 0) return E_CRC;
    got = (uint16_t)((got << 4) | (uint16_t)v);
  }
  uint8_t plen = (uint8_t)(len - 5);
  if (crc16_ccitt((const uint8_t *)line, plen) != got) return E_CRC;
  for (uint8_t i = 0; i < plen; ++i)
    if (line[i] < 0x20 || line[i] > 0x7E) return E_SYNTAX;
  *payload_len = plen;
  if (crc) *crc = got;
  return E_OK;
}

// Parses a decimal integer at p; returns characters consumed (0 on error).
static uint8_t parse_int(const char *p, uint8_t n, int32_t *out) {
  uint8_t i = 0;
  bool neg = false;
  if (i < n && (p[i] == '-' || p[i] == '+')) { neg = p[i] == '-'; ++i; }
  uint8_t start = i;
  int64_t v = 0;
  while (i < n && p[i] >= '0' && p[i] <= '9') {
    v = v * 10 + (p[i] - '0');
    if (v > 2147483648LL) return 0;
    ++i;
  }
  if (i == start) return 0;
  if (neg) v = -v;
  if (v > 2147483647LL || v < -2147483648LL) return 0;
  *out = (int32_t)v;
  return i;
}

Error parse_payload(const char *p, uint8_t len, Request *req) {
  uint8_t i = 0;
  int32_t seq = 0;
  uint8_t used = 0;
  if (len == 0 || p[0] < '0' || p[0] > '9') return E_SYNTAX;
  used = parse_int(p, len, &seq);
  if (!used || seq < 0 || seq > 65535) return E_SYNTAX;
  i = used;
  if (i >= len || p[i] != ' ') return E_SYNTAX;
  ++i;
  req->seq = (uint16_t)seq;
  uint8_t c = 0;
  while (i < len && p[i] != ' ') {
    char ch = p[i];
    if (ch < 'A' || ch > 'Z' || c >= kMaxCmd) return E_SYNTAX;
    req->cmd[c++] = ch;
    ++i;
  }
  if (c == 0) return E_SYNTAX;
  req->cmd[c] = 0;
  req->argc = 0;
  while (i < len) {
    if (p[i] != ' ') return E_SYNTAX;
    ++i;
    if (req->argc >= kMaxArgs) return E_ARG;
    int32_t v;
    used = parse_int(p + i, (uint8_t)(len - i), &v);
    if (!used) return E_ARG;
    req->args[req->argc++] = v;
    i = (uint8_t)(i + used);
  }
  return E_OK;
}

Error parse_frame(const char *line, uint8_t len, Request *req) {
  uint8_t plen = 0;
  uint16_t crc = 0;
  Error e = check_frame(line, len, &plen, &crc);
  if (e != E_OK) return e;
  req->crc = crc;
  return parse_payload(line, plen, req);
}

Writer &Writer::ch(char c) {
  if (len_ + 7 > cap_) { ok_ = false; return *this; }   // keep room for "*XXXX\n\0"
  buf_[len_++] = c;
  buf_[len_] = 0;
  return *this;
}

Writer &Writer::str(const char *s) {
  while (*s) ch(*s++);
  return *this;
}

Writer &Writer::unum(uint32_t v) {
  char tmp[11];
  uint8_t n = 0;
  do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
  while (n) ch(tmp[--n]);
  return *this;
}

Writer &Writer::num(int32_t v) {
  if (v < 0) { ch('-'); return unum((uint32_t)(-(v + 1)) + 1u); }
  return unum((uint32_t)v);
}

uint8_t Writer::finish() {
  if (!ok_) return 0;
  uint16_t crc = crc16_ccitt((const uint8_t *)buf_, len_);
  static const char hex[] = "0123456789ABCDEF";
  buf_[len_++] = '*';
  for (int8_t s = 12; s >= 0; s -= 4) buf_[len_++] = hex[(crc >> s) & 0xF];
  buf_[len_++] = '\n';
  buf_[len_] = 0;
  return len_;
}

void begin_ok(Writer &w, uint16_t seq) { w.unum(seq).str(" OK"); }

void begin_err(Writer &w, uint16_t seq, uint8_t code, const char *word) {
  w.unum(seq).str(" ERR ").unum(code).sp().str(word ? word : error_word(code));
}

bool cmd_is(const Request &r, const char *word) {
  uint8_t i = 0;
  for (; word[i]; ++i)
    if (r.cmd[i] != word[i]) return false;
  return r.cmd[i] == 0;
}

}  // namespace proto
