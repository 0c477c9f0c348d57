// Host-link framing (docs/protocol.md): "<seq> <CMD> [args]*<CRC16 hex>\n".
// Pure C++ so the parser and reply writer are unit-tested on the host.
#pragma once
#include <stddef.h>
#include <stdint.h>

namespace proto {

const uint8_t kMaxLine = 72;    // longest accepted line, excluding '\n'
const uint8_t kMaxArgs = 4;
const uint8_t kMaxCmd = 7;      // command word length

// Error codes carried in "ERR <code> <word>" replies; the numbers are part of the protocol.
enum Error : uint8_t {
  E_OK = 0,
  E_CRC = 1,       // checksum mismatch or missing '*XXXX' trailer (frame damaged)
  E_SYNTAX = 2,    // frame intact but malformed (no sequence number, line too long, ...)
  E_UNKNOWN = 3,   // unknown command word
  E_ARG = 4,       // missing, extra or non-numeric argument
  E_RANGE = 5,     // value outside the allowed range or the soft limits
  E_BUSY = 6,      // motor moving / previous action still running
  E_NOTHOMED = 7,  // motion refused before homing (or after an e-stop)
  E_ESTOP = 8,     // e-stop latched
  E_SENSOR = 9,    // distance sensor did not answer correctly
  E_LIMIT = 10,    // a limit switch stopped the motion
};

const char *error_word(uint8_t code);

// Collects bytes into lines. A line longer than kMaxLine is discarded up to the next '\n'
// and reported as an overflow so the host learns about it (never executed, never silent).
class LineAssembler {
 public:
  enum Event : uint8_t { NONE, LINE, OVERFLOW };
  Event feed(uint8_t c);
  const char *line() const { return buf_; }
  uint8_t length() const { return len_; }
  void reset() { len_ = 0; overflow_ = false; done_ = false; }

 private:
  char buf_[kMaxLine + 1] = {0};
  uint8_t len_ = 0;
  bool overflow_ = false;
  bool done_ = false;
};

struct Request {
  uint16_t seq;
  char cmd[kMaxCmd + 1];
  uint8_t argc;
  int32_t args[kMaxArgs];
  uint16_t crc;   // CRC of the whole frame, with seq identifies a retry exactly
};

// Checks the '*XXXX' trailer. On success returns E_OK and sets *payload_len.
Error check_frame(const char *line, uint8_t len, uint8_t *payload_len, uint16_t *crc);
// Parses "<seq> <CMD> [int args]" (payload only, trailer removed).
Error parse_payload(const char *payload, uint8_t len, Request *req);
// Both steps; the convenience entry point used by the firmware.
Error parse_frame(const char *line, uint8_t len, Request *req);

// Builds a framed reply into a caller buffer; finish() appends "*XXXX\n".
class Writer {
 public:
  Writer(char *buf, uint8_t cap) : buf_(buf), cap_(cap), len_(0), ok_(true) { buf_[0] = 0; }
  Writer &str(const char *s);
  Writer &ch(char c);
  Writer &num(int32_t v);
  Writer &unum(uint32_t v);
  Writer &sp() { return ch(' '); }
  uint8_t finish();   // returns total length (0 if the buffer was too small)
  bool ok() const { return ok_; }
  const char *data() const { return buf_; }
  uint8_t length() const { return len_; }

 private:
  char *buf_;
  uint8_t cap_;
  uint8_t len_;
  bool ok_;
};

// Starts a reply "<seq> OK" or "<seq> ERR <code> <word>".
void begin_ok(Writer &w, uint16_t seq);
void begin_err(Writer &w, uint16_t seq, uint8_t code, const char *word = 0);

bool cmd_is(const Request &r, const char *word);

}  // namespace proto
