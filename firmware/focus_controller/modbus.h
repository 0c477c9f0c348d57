// Modbus RTU master framing for the RS-485 distance sensor (function 0x03, read holding
// registers). Pure C++: transport, DE pin and timeouts live in the sketch.
#pragma once
#include <stdint.h>

namespace modbus {

enum Result : uint8_t {
  INCOMPLETE = 0,  // keep reading
  OK,
  BAD_CRC,
  EXCEPTION,       // slave answered with an exception code
  BAD_ADDRESS,     // answer from another slave
  BAD_FUNCTION,
  BAD_LENGTH,
  TIMEOUT,         // set by the transport, never by the parser
};

const char *result_word(Result r);

// Writes the 8-byte request into out[8]; returns its length.
uint8_t build_read_holding(uint8_t *out, uint8_t slave, uint16_t reg, uint16_t count);

// Parses a (possibly partial) reply to build_read_holding(slave, _, count). Fills regs[count]
// on OK and *exception_code on EXCEPTION.
Result parse_read_holding(const uint8_t *buf, uint8_t len, uint8_t slave, uint8_t count,
                          uint16_t *regs, uint8_t *exception_code);

// Expected reply length for `count` registers.
inline uint8_t reply_length(uint8_t count) { return (uint8_t)(5 + 2 * count); }

// Combines 1 or 2 registers (big-endian word order) into the raw reading.
uint32_t registers_value(const uint16_t *regs, uint8_t count);

}  // namespace modbus
