// Host-side tests of the trapezoidal planner against the ideal constant-acceleration profile.
#include <doctest/doctest.h>

#include <math.h>

#include <vector>

#include "../focus_controller/ramp.h"

struct Profile {
  std::vector<double> t;  // time of each step, s (from the start command)
};

static Profile run(uint32_t steps, uint32_t v, uint32_t a, uint32_t stop_after = 0) {
  Ramp r;
  Profile p;
  double t = r.start(steps, v, a) / (double)Ramp::kTickHz;
  uint32_t emitted = 0;
  while (true) {
    p.t.push_back(t);
    ++emitted;
    if (stop_after && emitted == stop_after) r.request_stop();
    uint16_t dt = r.next();
    if (!dt) break;
    t += dt / (double)Ramp::kTickHz;
  }
  return p;
}

TEST_CASE("exact step counts") {
  for (uint32_t n : {1u, 2u, 3u, 10u, 199u, 200u, 4000u}) {
    CHECK(run(n, 2000, 20000).t.size() == n);
  }
}

TEST_CASE("trapezoid: cruise interval and total time match the ideal profile") {
  const uint32_t n = 2000, v = 2000, a = 20000;
  Profile p = run(n, v, a);
  double ideal = Ramp::ideal_duration_s(n, v, a);
  CHECK(p.t.back() == doctest::Approx(ideal).epsilon(0.01));
  // Middle of the move cruises at v within one tick.
  double mid = p.t[n / 2] - p.t[n / 2 - 1];
  CHECK(mid == doctest::Approx(1.0 / v).epsilon(0.001));
  // Intervals shrink monotonically while accelerating, grow while decelerating.
  for (size_t i = 2; i < 50; ++i) CHECK(p.t[i] - p.t[i - 1] <= p.t[i - 1] - p.t[i - 2] + 1e-6);
  for (size_t i = n - 50; i < n; ++i) CHECK(p.t[i] - p.t[i - 1] >= p.t[i - 1] - p.t[i - 2] - 1e-6);
}

TEST_CASE("acceleration phase follows t = sqrt(2 k / a)") {
  const uint32_t a = 20000;
  Profile p = run(1000, 5000, a);
  for (uint32_t k : {10u, 50u, 100u, 300u}) {
    double ideal = sqrt(2.0 * k / a);
    // step k happens at index k-1; Austin's c0 correction keeps the error within ~1%
    CHECK(p.t[k - 1] == doctest::Approx(ideal).epsilon(0.02));
  }
}

TEST_CASE("triangular profile for short moves") {
  const uint32_t n = 100, v = 10000, a = 20000;
  Profile p = run(n, v, a);
  CHECK(p.t.size() == n);
  CHECK(p.t.back() == doctest::Approx(Ramp::ideal_duration_s(n, v, a)).epsilon(0.03));
}

TEST_CASE("controlled stop decelerates within the braking distance") {
  const uint32_t v = 2000, a = 20000;
  Profile p = run(100000, v, a, 500);  // stop requested at cruise after 500 steps
  // braking distance v^2/2a = 100 steps
  CHECK(p.t.size() >= 500);
  CHECK(p.t.size() <= 500 + 102);
}

TEST_CASE("out-of-range settings are clamped, never zero intervals") {
  Ramp r;
  CHECK(r.start(10, 1, 1) > 0);
  uint16_t dt;
  int steps = 1;
  while ((dt = r.next())) { CHECK(dt >= 1); ++steps; }
  CHECK(steps == 10);
  CHECK(r.start(0, 1000, 1000) == 0);
}
