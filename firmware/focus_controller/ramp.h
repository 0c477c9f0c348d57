// Trapezoidal step-interval planner (D. Austin, "Generate stepper-motor speed profiles in real
// time", 2005): integer-only so one step's update fits in the timer ISR of a 16 MHz AVR.
// Pure C++ so the profile is unit-tested against the ideal trapezoid on the host.
#pragma once
#include <stdint.h>

class Ramp {
 public:
  // Timer tick rate: Timer1 with prescaler 8 on a 16 MHz AVR.
  static const uint32_t kTickHz = 2000000UL;
  static const uint16_t kMaxInterval = 65535;  // 16-bit compare register
  static const uint32_t kMinSpeed = 50;        // steps/s
  static const uint32_t kMaxSpeed = 10000;     // steps/s: ISR budget at 16 MHz
  static const uint32_t kMinAccel = 1000;      // steps/s^2: keeps c0 within 16 bits
  static const uint32_t kMaxAccel = 500000;

  // Plans a move of `steps` (>0) cruising at `speed` with `accel`; returns the interval
  // (ticks) to wait before the first step. Values are clamped to the supported ranges.
  uint16_t start(uint32_t steps, uint32_t speed, uint32_t accel);
  // Called after each step is emitted; returns the interval to the next step, 0 when done.
  uint16_t next();
  // Decelerate to rest as fast as the acceleration allows (controlled stop).
  void request_stop();
  // Abandon the profile at once (e-stop, limit switch).
  void abort() { remaining_ = 0; }

  uint32_t remaining() const { return remaining_; }
  bool done() const { return remaining_ == 0; }
  uint8_t phase() const { return phase_; }
  enum Phase : uint8_t { ACCEL, CRUISE, DECEL };

  // Ideal trapezoid duration (s) from start to the last step; used by tests and hosts.
  static double ideal_duration_s(uint32_t steps, double speed, double accel);

 private:
  uint32_t remaining_ = 0;  // steps still to emit
  uint32_t n_ = 0;          // accel steps taken (= steps needed to decelerate)
  uint32_t c_ = 0;          // current interval, ticks << 8
  uint32_t cmin_ = 0;       // cruise interval, ticks << 8
  uint8_t phase_ = ACCEL;
  uint16_t out() const;
};
