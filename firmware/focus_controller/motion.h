// Motion admission rules (soft limits, homing, e-stop) and the persisted settings record.
// Pure C++: the sketch asks these before touching the STEP pin, and the host tests pin them.
#pragma once
#include <stdint.h>

#include "protocol.h"

struct MotionState {
  int32_t position;
  int32_t soft_min;
  int32_t soft_max;
  bool homed;
  bool estop;
  bool moving;
};

// Why a move to `target` must be refused (proto::E_OK when it may start).
proto::Error check_move(const MotionState &s, int32_t target);
// Target of a relative move, refusing int32 overflow (E_RANGE).
proto::Error relative_target(int32_t position, int32_t delta, int32_t *target);
// Soft-limit pair validation.
proto::Error check_limits(int32_t lo, int32_t hi);
// Whether the hard limit switch in the direction of travel forbids the next step.
inline bool limit_blocks(bool dir_positive, bool min_switch, bool max_switch) {
  return dir_positive ? max_switch : min_switch;
}

// Settings kept in EEPROM; `check` guards against blank or stale layouts.
struct Settings {
  uint16_t magic;
  uint8_t layout;
  uint32_t steps_per_mm_milli;  // steps per mm x 1000
  uint32_t speed;               // steps/s
  uint32_t accel;               // steps/s^2
  int32_t soft_min;
  int32_t soft_max;
  uint32_t trigger_width_us;
  uint8_t sensor_addr;
  uint16_t sensor_reg;
  uint8_t sensor_nregs;
  uint16_t sensor_unit_um;      // micrometres per raw count
  uint16_t check;
};

const uint16_t kSettingsMagic = 0x4653;  // "FS"
const uint8_t kSettingsLayout = 1;
void settings_defaults(Settings *s);
uint16_t settings_checksum(const Settings &s);
bool settings_valid(const Settings &s);
void settings_seal(Settings *s);
