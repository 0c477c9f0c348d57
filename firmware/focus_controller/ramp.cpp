#include "ramp.h"

#include <math.h>

static uint32_t clampu(uint32_t v, uint32_t lo, uint32_t hi) { return v < lo ? lo : (v > hi ? hi : v); }

uint16_t Ramp::out() const {
  uint32_t t = (c_ + 128) >> 8;
  return (uint16_t)(t > kMaxInterval ? kMaxInterval : (t < 1 ? 1 : t));
}

uint16_t Ramp::start(uint32_t steps, uint32_t speed, uint32_t accel) {
  speed = clampu(speed, kMinSpeed, kMaxSpeed);
  accel = clampu(accel, kMinAccel, kMaxAccel);
  remaining_ = steps;
  n_ = 0;
  cmin_ = (uint32_t)((kTickHz << 4) / speed) << 4;
  // c0 = 0.676 * f * sqrt(2 / a): Austin's correction of the first interval so that later
  // steps land on the ideal constant-acceleration times.
  double c0 = 0.676 * (double)kTickHz * sqrt(2.0 / (double)accel) * 256.0;
  c_ = (uint32_t)c0;
  if (c_ > ((uint32_t)kMaxInterval << 8)) c_ = (uint32_t)kMaxInterval << 8;
  phase_ = ACCEL;
  if (c_ <= cmin_) { c_ = cmin_; phase_ = CRUISE; }
  return steps ? out() : 0;
}

uint16_t Ramp::next() {
  if (remaining_ == 0) return 0;
  --remaining_;
  if (remaining_ == 0) return 0;
  if (phase_ != DECEL && remaining_ <= n_) phase_ = DECEL;
  if (phase_ == DECEL) {
    // Mirror of the acceleration recurrence: c_{r-1} = c_r (4r+1)/(4r-1), r = steps left.
    uint32_t r = remaining_;
    c_ = c_ + (2 * c_) / (4 * r - 1);
  } else if (phase_ == ACCEL) {
    ++n_;
    c_ = c_ - (2 * c_) / (4 * n_ + 1);
    if (c_ <= cmin_) { c_ = cmin_; phase_ = CRUISE; }
  }
  return out();
}

void Ramp::request_stop() {
  if (remaining_ == 0) return;
  if (remaining_ > n_ + 1) remaining_ = n_ + 1;
  phase_ = DECEL;
}

double Ramp::ideal_duration_s(uint32_t steps, double speed, double accel) {
  double s_acc = speed * speed / (2.0 * accel);
  if (2.0 * s_acc >= (double)steps) return 2.0 * sqrt((double)steps / accel);
  return 2.0 * speed / accel + ((double)steps - 2.0 * s_acc) / speed;
}
