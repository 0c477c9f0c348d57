#include "modbus.h"

#include "crc.h"

namespace modbus {

const char *result_word(Result r) {
  switch (r) {
    case INCOMPLETE: return "INCOMPLETE";
    case OK: return "OK";
    case BAD_CRC: return "SENSOR_CRC";
    case EXCEPTION: return "SENSOR_EXCEPTION";
    case BAD_ADDRESS: return "SENSOR_ADDRESS";
    case BAD_FUNCTION: return "SENSOR_FUNCTION";
    case BAD_LENGTH: return "SENSOR_LENGTH";
    case TIMEOUT: return "SENSOR_TIMEOUT";
  }
  return "SENSOR";
}

uint8_t build_read_holding(uint8_t *out, uint8_t slave, uint16_t reg, uint16_t count) {
  out[0] = slave;
  out[1] = 0x03;
  out[2] = (uint8_t)(reg >> 8);
  out[3] = (uint8_t)reg;
  out[4] = (uint8_t)(count >> 8);
  out[5] = (uint8_t)count;
  uint16_t crc = crc16_modbus(out, 6);
  out[6] = (uint8_t)crc;
  out[7] = (uint8_t)(crc >> 8);
  return 8;
}

static bool crc_ok(const uint8_t *buf, uint8_t n) {
  uint16_t crc = crc16_modbus(buf, (uint8_t)(n - 2));
  return buf[n - 2] == (uint8_t)crc && buf[n - 1] == (uint8_t)(crc >> 8);
}

Result parse_read_holding(const uint8_t *buf, uint8_t len, uint8_t slave, uint8_t count,
                          uint16_t *regs, uint8_t *exception_code) {
  if (len < 2) return INCOMPLETE;
  if (buf[1] == (0x03 | 0x80)) {  // exception reply: addr, fc|0x80, code, crc, crc
    if (len < 5) return INCOMPLETE;
    if (!crc_ok(buf, 5)) return BAD_CRC;
    if (buf[0] != slave) return BAD_ADDRESS;
    if (exception_code) *exception_code = buf[2];
    return EXCEPTION;
  }
  uint8_t want = reply_length(count);
  if (len < 3) return INCOMPLETE;
  if (buf[1] != 0x03) {
    return len >= want ? (crc_ok(buf, want) ? BAD_FUNCTION : BAD_CRC) : INCOMPLETE;
  }
  if (buf[2] != 2 * count) return len >= want ? (crc_ok(buf, want) ? BAD_LENGTH : BAD_CRC) : INCOMPLETE;
  if (len < want) return INCOMPLETE;
  if (!crc_ok(buf, want)) return BAD_CRC;
  if (buf[0] != slave) return BAD_ADDRESS;
  for (uint8_t i = 0; i < count; ++i) regs[i] = (uint16_t)((buf[3 + 2 * i] << 8) | buf[4 + 2 * i]);
  return OK;
}

uint32_t registers_value(const uint16_t *regs, uint8_t count) {
  return count >= 2 ? ((uint32_t)regs[0] << 16) | regs[1] : regs[0];
}

}  // namespace modbus
