#include "motion.h"

#include <string.h>

#include "crc.h"

proto::Error check_move(const MotionState &s, int32_t target) {
  if (s.estop) return proto::E_ESTOP;
  if (!s.homed) return proto::E_NOTHOMED;
  if (s.moving) return proto::E_BUSY;
  if (target < s.soft_min || target > s.soft_max) return proto::E_RANGE;
  return proto::E_OK;
}

proto::Error relative_target(int32_t position, int32_t delta, int32_t *target) {
  int64_t t = (int64_t)position + (int64_t)delta;
  if (t > 2147483647LL || t < -2147483647LL) return proto::E_RANGE;
  *target = (int32_t)t;
  return proto::E_OK;
}

proto::Error check_limits(int32_t lo, int32_t hi) {
  return lo < hi ? proto::E_OK : proto::E_RANGE;
}

void settings_defaults(Settings *s) {
  memset(s, 0, sizeof(*s));  // zero any padding so the checksum is deterministic
  s->magic = kSettingsMagic;
  s->layout = kSettingsLayout;
  s->steps_per_mm_milli = 200000;  // 200 steps/mm
  s->speed = 2000;
  s->accel = 20000;
  s->soft_min = 0;
  s->soft_max = 20000;
  s->trigger_width_us = 1000;
  s->sensor_addr = 1;
  s->sensor_reg = 0;
  s->sensor_nregs = 2;
  s->sensor_unit_um = 1;
  settings_seal(s);
}

uint16_t settings_checksum(const Settings &s) {
  return crc16_ccitt((const uint8_t *)&s, (uint8_t)((const uint8_t *)&s.check - (const uint8_t *)&s));
}

bool settings_valid(const Settings &s) {
  return s.magic == kSettingsMagic && s.layout == kSettingsLayout && s.check == settings_checksum(s);
}

void settings_seal(Settings *s) { s->check = settings_checksum(*s); }
