// psfbench focus controller: stepper on the focus ring, RS-485 (Modbus RTU) distance sensor,
// camera trigger. Arduino glue only; the logic lives in crc/protocol/ramp/modbus/motion,
// which are unit-tested on the host. Protocol: docs/protocol.md. Wiring: docs/firmware.md.
#include <EEPROM.h>
#include <avr/interrupt.h>
#include <avr/wdt.h>

#include "board.h"
#include "crc.h"
#include "modbus.h"
#include "motion.h"
#include "protocol.h"
#include "ramp.h"

#if !SENSOR_HW_SERIAL
#include <SoftwareSerial.h>
SoftwareSerial sensorSerial(PIN_RS485_RX, PIN_RS485_TX);
#define SENSOR sensorSerial
#else
#define SENSOR Serial1
#endif

#define FW_NAME "psfbench-fc"
#define FW_VERSION "1.0.0"
#define PROTO_VERSION 1
#define CAPS "HOME,SWEEP,MODBUS,TRIGIN,EEPROM,ESTOPIN"

using namespace proto;

// ---- reset cause: read MCUSR before anything clears it, and stop a running watchdog ----
uint8_t g_reset_cause __attribute__((section(".noinit")));
void early_init(void) __attribute__((naked, used, section(".init3")));
void early_init(void) {
  g_reset_cause = MCUSR;
  MCUSR = 0;
  wdt_disable();
}

// ---- fast pin access (the ISR cannot afford digitalWrite) ----
struct FastPin {
  volatile uint8_t *out;
  volatile uint8_t *in;
  uint8_t mask;
  void init(uint8_t pin) {
    uint8_t port = digitalPinToPort(pin);
    out = portOutputRegister(port);
    in = portInputRegister(port);
    mask = digitalPinToBitMask(pin);
  }
  inline void high() { *out |= mask; }
  inline void low() { *out &= (uint8_t)~mask; }
  inline bool read() const { return (*in & mask) != 0; }
};

static FastPin pStep, pDir, pEn, pTrig, pDe, pLimMin, pLimMax;

// ---- settings ----
static Settings cfg;
static void save_settings() {
  settings_seal(&cfg);
  EEPROM.put(0, cfg);
}

// ---- motion (shared with the timer ISR) ----
enum Mode : uint8_t { M_IDLE, M_MOVE, M_HOME_SEEK, M_HOME_RELEASE };
enum StopReason : uint8_t { SR_NONE, SR_DONE, SR_LIMIT, SR_ESTOP, SR_STOP };
static Ramp ramp;
static volatile int32_t g_pos = 0;
static volatile int8_t g_dir = 1;
static volatile uint8_t g_mode = M_IDLE;
static volatile uint8_t g_stop_reason = SR_NONE;
static volatile bool g_homed = false;
static volatile bool g_estop = false;
static volatile bool g_limit_hit = false;
static volatile bool g_enabled = false;
static volatile bool g_home_seek_done = false;

static inline bool lim_min() { return !pLimMin.read(); }  // switches pull to GND
static inline bool lim_max() { return !pLimMax.read(); }

static inline void timer_stop() {
  TIMSK1 &= (uint8_t)~_BV(OCIE1A);
  TCCR1B = 0;
}

static void timer_start(uint16_t first) {
  TCCR1A = 0;
  TCCR1B = 0;
  TCNT1 = 0;
  OCR1A = first - 1;  // CTC period is OCR1A + 1 ticks
  TIFR1 = _BV(OCF1A);
  TCCR1B = _BV(WGM12) | _BV(CS11);  // CTC, clk/8 = 2 MHz: Ramp::kTickHz
  TIMSK1 |= _BV(OCIE1A);
}

// Time the motion ended, taken in the ISR: the main loop may notice the end of a move up to
// a command-parse later, and a sweep step's settle time and reported t_move_done must start
// at the motor's last step, not at that notice.
static volatile uint32_t g_t_stop_us = 0;

static void motion_finished(uint8_t reason) {
  timer_stop();
  ramp.abort();
  g_t_stop_us = micros();
  g_stop_reason = reason;
  g_mode = M_IDLE;
}

ISR(TIMER1_COMPA_vect) {
  bool positive = g_dir > 0;
  if (g_mode == M_HOME_RELEASE) {
    if (!lim_min()) {  // first position off the switch is the origin
      g_pos = 0;
      g_homed = true;
      motion_finished(SR_DONE);
      return;
    }
  } else if (limit_blocks(positive, lim_min(), lim_max())) {
    if (g_mode == M_HOME_SEEK) {
      g_home_seek_done = true;
      motion_finished(SR_DONE);
    } else {
      g_limit_hit = true;
      motion_finished(SR_LIMIT);
    }
    return;
  }
  pStep.high();
  g_pos += g_dir;
  __builtin_avr_delay_cycles(F_CPU / 500000);  // >= 2 us STEP high (A4988 1 us, DRV8825 1.9 us)
  pStep.low();
  uint16_t dt = ramp.next();
  if (!dt) {
    motion_finished(SR_DONE);
    return;
  }
  OCR1A = dt - 1;  // CTC period is OCR1A + 1 ticks
}

static void driver_enable(bool on) {
  if (on) pEn.low(); else pEn.high();
  g_enabled = on;
}

static void start_motion(uint8_t mode, int8_t dir, uint32_t steps, uint32_t speed) {
  timer_stop();
  driver_enable(true);
  if (dir > 0) pDir.high(); else pDir.low();
  g_dir = dir;
  g_limit_hit = false;
  g_stop_reason = SR_NONE;
  if (steps == 0) { g_stop_reason = SR_DONE; g_mode = M_IDLE; return; }
  g_mode = mode;
  // DIR settles while the first interval elapses (>= 100 us at the highest speed).
  uint16_t first = ramp.start(steps, speed, cfg.accel);
  timer_start(first);
}

static void do_estop() {
  timer_stop();
  ramp.abort();
  driver_enable(false);
  g_estop = true;
  g_homed = false;
  g_mode = M_IDLE;
  g_stop_reason = SR_ESTOP;
}

static inline bool moving() { return g_mode != M_IDLE; }

static MotionState motion_state() {
  MotionState s;
  noInterrupts();
  s.position = g_pos;
  interrupts();
  s.soft_min = cfg.soft_min;
  s.soft_max = cfg.soft_max;
  s.homed = g_homed;
  s.estop = g_estop;
  s.moving = moving();
  return s;
}

static int32_t position() {
  noInterrupts();
  int32_t p = g_pos;
  interrupts();
  return p;
}

static void move_to(int32_t target) {
  int32_t p = position();
  int32_t d = target - p;
  start_motion(M_MOVE, d >= 0 ? 1 : -1, (uint32_t)(d >= 0 ? d : -d), cfg.speed);
}

// ---- homing: seek the MIN switch, then creep off it; the release point is position 0 ----
static const uint32_t kHomeCreep = 200;  // steps/s while leaving the switch
static bool g_homing = false;
static void home_start() {
  g_estop = false;
  g_homed = false;
  g_homing = true;
  g_home_seek_done = false;
  if (lim_min()) {
    g_home_seek_done = true;
  } else {
    uint32_t v = cfg.speed < 1000 ? cfg.speed : 1000;
    start_motion(M_HOME_SEEK, -1, 0x7FFFFFFFUL, v);
  }
}
static void home_poll() {
  if (!g_homing || moving()) return;
  if (g_home_seek_done) {
    g_home_seek_done = false;
    start_motion(M_HOME_RELEASE, 1, 100000UL, kHomeCreep);
    return;
  }
  g_homing = false;  // release finished (homed) or was stopped/e-stopped (not homed)
}

// ---- trigger output and input ----
// The pulse end is timed by Timer2 (4 us ticks, CTC, chunks of <= 250 ticks) rather than by
// the main loop, whose latency (CRC of the reply, Modbus) would stretch short pulses.
static uint32_t g_trig_count = 0;
static volatile uint32_t g_trig_in = 0;
static volatile bool g_trig_active = false;
static volatile uint32_t g_trig_ticks_left = 0;
static uint32_t g_trig_t0 = 0;

ISR(TIMER2_COMPA_vect) {
  if (g_trig_ticks_left == 0) {
    pTrig.low();
    TCCR2B = 0;
    TIMSK2 = 0;
    g_trig_active = false;
    return;
  }
  uint8_t chunk = g_trig_ticks_left > 250 ? 250 : (uint8_t)g_trig_ticks_left;
  g_trig_ticks_left -= chunk;
  OCR2A = (uint8_t)(chunk - 1);
}

static uint32_t trigger_fire() {
  // One 4 us tick less than the width: the compare ISR needs about 5 us (entry + register
  // saves) before it drives the pin low. Measured in simavr: 20/200/3000 us within 2 us.
  uint32_t ticks = (cfg.trigger_width_us + 2) / 4;
  ticks = ticks > 1 ? ticks - 1 : 1;
  uint8_t chunk = ticks > 250 ? 250 : (uint8_t)ticks;
  noInterrupts();
  TCCR2B = 0;
  TCCR2A = _BV(WGM21);  // CTC on OCR2A
  TCNT2 = 0;
  OCR2A = (uint8_t)(chunk - 1);
  g_trig_ticks_left = ticks - chunk;
  TIFR2 = _BV(OCF2A);
  TIMSK2 = _BV(OCIE2A);
  GTCCR |= _BV(PSRASY);  // restart the prescaler: first tick a full 4 us away
  pTrig.high();
  TCCR2B = _BV(CS22);    // clk/64 = 250 kHz
  g_trig_t0 = micros();
  g_trig_active = true;
  interrupts();
  return ++g_trig_count;
}
static void trig_in_isr() { g_trig_in++; }
static void estop_isr() { do_estop(); }

// ---- Modbus RTU master ----
enum MbState : uint8_t { MB_IDLE, MB_WAIT, MB_GAP, MB_DONE };
static const uint32_t kMbTimeoutUs = 50000;
static const uint32_t kMbGapUs = 3000;  // > 3.5 characters at 19200 baud before a retry
static const uint8_t kMbAttempts = 3;
static MbState mb_state = MB_IDLE;
static uint8_t mb_buf[16];
static uint8_t mb_len = 0;
static uint8_t mb_attempt = 0;
static uint32_t mb_t0 = 0;
static modbus::Result mb_result = modbus::OK;
static uint32_t mb_value_um = 0;
static bool g_sensor_error = false;
static uint32_t g_sensor_failures = 0;  // failed attempts (retried or not), for diagnostics

static void mb_send() {
  uint8_t req[8];
  uint8_t n = modbus::build_read_holding(req, cfg.sensor_addr, cfg.sensor_reg, cfg.sensor_nregs);
  while (SENSOR.available()) SENSOR.read();
  pDe.high();
  SENSOR.write(req, n);
  SENSOR.flush();  // blocks until the last stop bit left (about 4 ms at 19200 baud)
  pDe.low();
  mb_len = 0;
  mb_t0 = micros();
  mb_state = MB_WAIT;
}
static void mb_start() {
  mb_attempt = 1;
  mb_send();
}
static void mb_poll() {
  if (mb_state == MB_WAIT) {
    while (SENSOR.available() && mb_len < sizeof mb_buf) mb_buf[mb_len++] = (uint8_t)SENSOR.read();
    uint16_t regs[2] = {0, 0};
    uint8_t exc = 0;
    modbus::Result r = modbus::parse_read_holding(mb_buf, mb_len, cfg.sensor_addr,
                                                  cfg.sensor_nregs, regs, &exc);
    if (r == modbus::INCOMPLETE && (uint32_t)(micros() - mb_t0) < kMbTimeoutUs) return;
    if (r == modbus::INCOMPLETE) r = modbus::TIMEOUT;
    if (r == modbus::OK) {
      mb_value_um = modbus::registers_value(regs, cfg.sensor_nregs) * cfg.sensor_unit_um;
      mb_result = r;
      g_sensor_error = false;
      mb_state = MB_DONE;
      return;
    }
    g_sensor_failures++;
    mb_result = r;
    if (r == modbus::EXCEPTION || mb_attempt >= kMbAttempts) {
      g_sensor_error = true;
      mb_state = MB_DONE;
      return;
    }
    mb_attempt++;
    mb_t0 = micros();
    mb_state = MB_GAP;
  } else if (mb_state == MB_GAP) {
    if ((uint32_t)(micros() - mb_t0) >= kMbGapUs) mb_send();
  }
}

// ---- synchronised sweep step: move, settle, read d, trigger ----
enum SwState : uint8_t { SW_IDLE, SW_MOVING, SW_SETTLE, SW_READING, SW_DONE, SW_FAILED };
static SwState sw_state = SW_IDLE;
static uint32_t sw_settle_us = 0;
static uint32_t sw_t_done = 0, sw_t_trig = 0, sw_d_um = 0, sw_tc = 0;
static int32_t sw_pos = 0;
static uint8_t sw_err = 0;
static const char *sw_err_word = 0;
static void sweep_fail(uint8_t code, const char *word) {
  sw_err = code;
  sw_err_word = word;
  sw_state = SW_FAILED;
}
static void sweep_poll() {
  switch (sw_state) {
    case SW_MOVING:
      if (moving()) return;
      if (g_stop_reason == SR_LIMIT) return sweep_fail(E_LIMIT, 0);
      if (g_stop_reason == SR_ESTOP || g_estop) return sweep_fail(E_ESTOP, 0);
      if (g_stop_reason == SR_STOP) return sweep_fail(E_BUSY, "STOPPED");
      {
        uint8_t sreg = SREG;
        cli();
        sw_t_done = g_t_stop_us;  // 32-bit read must not tear against the ISR
        SREG = sreg;
      }
      sw_state = SW_SETTLE;
      return;
    case SW_SETTLE:
      if ((uint32_t)(micros() - sw_t_done) < sw_settle_us) return;
      mb_start();
      sw_state = SW_READING;
      return;
    case SW_READING:
      if (mb_state != MB_DONE) return;
      mb_state = MB_IDLE;
      if (mb_result != modbus::OK) return sweep_fail(E_SENSOR, modbus::result_word(mb_result));
      sw_d_um = mb_value_um;
      sw_pos = position();
      sw_tc = trigger_fire();
      sw_t_trig = g_trig_t0;
      sw_state = SW_DONE;
      return;
    default:
      return;
  }
}

// ---- host link ----
static LineAssembler assembler;
static char reply_buf[88];
static char last_reply[88];  // cached reply to the last request, resent for retries
static uint8_t last_reply_len = 0;
static char bad_buf[32];
static uint16_t last_seq = 0;
static uint16_t last_crc = 0;
static bool have_last = false;
static uint32_t g_bad_frames = 0;
static bool dist_pending = false;
static Request dist_req;

static void send_reply(Writer &w, bool cache, uint16_t seq, uint16_t crc) {
  uint8_t n = w.finish();
  if (!n) {  // never send a truncated reply: send a well-formed error instead
    Writer e(reply_buf, sizeof reply_buf);
    begin_err(e, seq, E_SYNTAX, "REPLY_TOO_LONG");
    n = e.finish();
    Serial.write((const uint8_t *)reply_buf, n);
    return;
  }
  Serial.write((const uint8_t *)w.data(), n);
  if (cache) {
    memcpy(last_reply, w.data(), n);
    last_reply_len = n;
    last_seq = seq;
    last_crc = crc;
    have_last = true;
  }
}

static void reply_error(const Request &r, uint8_t code, const char *word = 0) {
  Writer w(reply_buf, sizeof reply_buf);
  begin_err(w, r.seq, code, word);
  send_reply(w, true, r.seq, r.crc);
}

static void reply_bad_frame(uint8_t code) {
  g_bad_frames++;
  Writer w(bad_buf, sizeof bad_buf);
  begin_err(w, 0, code);
  w.sp().unum(g_bad_frames);
  send_reply(w, false, 0, 0);
}

static bool arg_in(const Request &r, uint8_t i, int32_t lo, int32_t hi) {
  return r.args[i] >= lo && r.args[i] <= hi;
}

static uint16_t status_flags() {
  uint16_t f = 0;
  if (moving()) f |= 1;
  if (g_homed) f |= 2;
  if (g_limit_hit) f |= 4;
  if (lim_min()) f |= 8;
  if (lim_max()) f |= 16;
  if (g_sensor_error) f |= 32;
  if (g_estop) f |= 64;
  if (sw_state == SW_MOVING || sw_state == SW_SETTLE || sw_state == SW_READING) f |= 128;
  if (g_enabled) f |= 256;
  if (g_homing) f |= 512;
  return f;
}

// Executes one intact request. Returns false when the reply is deferred (DIST).
static bool execute(const Request &r) {
  Writer w(reply_buf, sizeof reply_buf);
  begin_ok(w, r.seq);
  const uint8_t n = r.argc;
  if (cmd_is(r, "HELLO")) {
    if (n) return reply_error(r, E_ARG), true;
    w.sp().unum(PROTO_VERSION).sp().str(FW_NAME).sp().str(FW_VERSION).sp().str(BOARD_NAME);
    w.sp().str(CAPS);
  } else if (cmd_is(r, "ID")) {
    if (n) return reply_error(r, E_ARG), true;
    w.sp().str(FW_NAME).sp().str(FW_VERSION).sp().str(BOARD_NAME).sp().unum(g_reset_cause);
  } else if (cmd_is(r, "HOME")) {
    if (n) return reply_error(r, E_ARG), true;
    if (moving() || g_homing) return reply_error(r, E_BUSY), true;
    home_start();
  } else if (cmd_is(r, "MOVE") || cmd_is(r, "MOVR") || cmd_is(r, "SWEEP")) {
    bool sweep = cmd_is(r, "SWEEP");
    if (n != (sweep ? 2 : 1)) return reply_error(r, E_ARG), true;
    if (sweep && !arg_in(r, 1, 0, 60000)) return reply_error(r, E_RANGE), true;
    int32_t target = r.args[0];
    if (cmd_is(r, "MOVR") && relative_target(position(), r.args[0], &target) != E_OK)
      return reply_error(r, E_RANGE), true;
    MotionState s = motion_state();
    s.moving = s.moving || g_homing || sw_state == SW_MOVING || sw_state == SW_SETTLE ||
               sw_state == SW_READING;
    Error e = check_move(s, target);
    if (e != E_OK) return reply_error(r, e), true;
    if (sweep) {
      sw_settle_us = (uint32_t)r.args[1] * 1000UL;
      sw_state = SW_MOVING;
    }
    move_to(target);
    w.sp().num(target);
  } else if (cmd_is(r, "POS")) {
    if (n) return reply_error(r, E_ARG), true;
    w.sp().num(position()).sp().unum(moving() ? 1 : 0);
  } else if (cmd_is(r, "STOP")) {
    if (n) return reply_error(r, E_ARG), true;
    noInterrupts();
    if (moving()) ramp.request_stop();
    interrupts();
    g_homing = false;  // an interrupted homing leaves the axis un-homed
    if (sw_state == SW_MOVING || sw_state == SW_SETTLE) sweep_fail(E_BUSY, "STOPPED");
  } else if (cmd_is(r, "ESTOP")) {
    if (n) return reply_error(r, E_ARG), true;
    do_estop();
    g_homing = false;
    if (sw_state != SW_IDLE && sw_state != SW_DONE) sweep_fail(E_ESTOP, 0);
  } else if (cmd_is(r, "SPD") || cmd_is(r, "ACC")) {
    bool spd = cmd_is(r, "SPD");
    uint32_t *field = spd ? &cfg.speed : &cfg.accel;
    if (n > 1) return reply_error(r, E_ARG), true;
    if (n == 1) {
      bool ok = spd ? arg_in(r, 0, Ramp::kMinSpeed, Ramp::kMaxSpeed)
                    : arg_in(r, 0, Ramp::kMinAccel, Ramp::kMaxAccel);
      if (!ok) return reply_error(r, E_RANGE), true;
      if (moving()) return reply_error(r, E_BUSY), true;
      *field = (uint32_t)r.args[0];
    }
    w.sp().unum(*field);
  } else if (cmd_is(r, "LIM")) {
    if (n != 0 && n != 2) return reply_error(r, E_ARG), true;
    if (n == 2) {
      if (check_limits(r.args[0], r.args[1]) != E_OK) return reply_error(r, E_RANGE), true;
      if (moving()) return reply_error(r, E_BUSY), true;
      cfg.soft_min = r.args[0];
      cfg.soft_max = r.args[1];
    }
    w.sp().num(cfg.soft_min).sp().num(cfg.soft_max);
  } else if (cmd_is(r, "SPMM")) {
    if (n > 1) return reply_error(r, E_ARG), true;
    if (n == 1) {
      if (!arg_in(r, 0, 1, 100000000L)) return reply_error(r, E_RANGE), true;
      if (cfg.steps_per_mm_milli != (uint32_t)r.args[0]) {
        cfg.steps_per_mm_milli = (uint32_t)r.args[0];
        save_settings();  // persisted at once: it defines what a step means
      }
    }
    w.sp().unum(cfg.steps_per_mm_milli);
  } else if (cmd_is(r, "SAVE")) {
    if (n) return reply_error(r, E_ARG), true;
    save_settings();
  } else if (cmd_is(r, "TW")) {
    if (n > 1) return reply_error(r, E_ARG), true;
    if (n == 1) {
      if (!arg_in(r, 0, 1, 1000000L)) return reply_error(r, E_RANGE), true;
      if (g_trig_active) return reply_error(r, E_BUSY), true;
      cfg.trigger_width_us = (uint32_t)r.args[0];
    }
    w.sp().unum(cfg.trigger_width_us);
  } else if (cmd_is(r, "TRIG")) {
    if (n) return reply_error(r, E_ARG), true;
    if (g_trig_active || sw_state == SW_READING) return reply_error(r, E_BUSY), true;
    w.sp().unum(trigger_fire());
  } else if (cmd_is(r, "SENS")) {
    if (n != 0 && n != 4) return reply_error(r, E_ARG), true;
    if (n == 4) {
      if (!arg_in(r, 0, 1, 247) || !arg_in(r, 1, 0, 65535) || !arg_in(r, 2, 1, 2) ||
          !arg_in(r, 3, 1, 10000))
        return reply_error(r, E_RANGE), true;
      if (mb_state != MB_IDLE) return reply_error(r, E_BUSY), true;
      cfg.sensor_addr = (uint8_t)r.args[0];
      cfg.sensor_reg = (uint16_t)r.args[1];
      cfg.sensor_nregs = (uint8_t)r.args[2];
      cfg.sensor_unit_um = (uint16_t)r.args[3];
    }
    w.sp().unum(cfg.sensor_addr).sp().unum(cfg.sensor_reg).sp().unum(cfg.sensor_nregs);
    w.sp().unum(cfg.sensor_unit_um);
  } else if (cmd_is(r, "DIST")) {
    if (n) return reply_error(r, E_ARG), true;
    if (mb_state != MB_IDLE) return reply_error(r, E_BUSY), true;
    dist_req = r;
    dist_pending = true;
    mb_start();
    return false;
  } else if (cmd_is(r, "SWR")) {
    if (n) return reply_error(r, E_ARG), true;
    if (sw_state == SW_IDLE) {
      w.str(" IDLE");
    } else if (sw_state == SW_DONE) {
      w.str(" DONE ").num(sw_pos).sp().unum(sw_d_um).sp().unum(sw_t_done).sp().unum(sw_t_trig);
      w.sp().unum(sw_tc);
    } else if (sw_state == SW_FAILED) {
      return reply_error(r, sw_err, sw_err_word), true;
    } else {
      w.str(" BUSY");
    }
  } else if (cmd_is(r, "STAT")) {
    if (n) return reply_error(r, E_ARG), true;
    uint32_t tin;
    noInterrupts();
    tin = g_trig_in;
    interrupts();
    w.sp().num(position()).sp().unum(status_flags()).sp().unum(g_trig_count).sp().unum(tin);
    w.sp().unum(g_bad_frames).sp().unum(g_sensor_failures);
  } else if (cmd_is(r, "EN")) {
    if (n != 1 || !arg_in(r, 0, 0, 1)) return reply_error(r, E_ARG), true;
    if (moving()) return reply_error(r, E_BUSY), true;
    driver_enable(r.args[0] == 1);
  } else if (cmd_is(r, "REBOOT")) {
    if (n) return reply_error(r, E_ARG), true;
    send_reply(w, true, r.seq, r.crc);
    Serial.flush();
    do_estop();
    wdt_enable(WDTO_15MS);
    for (;;) {}
  } else {
    return reply_error(r, E_UNKNOWN), true;
  }
  send_reply(w, true, r.seq, r.crc);
  return true;
}

static void handle_line(const char *line, uint8_t len) {
  Request r;
  r.seq = 0;
  Error e = parse_frame(line, len, &r);
  if (e == E_CRC || e == E_SYNTAX || (e == E_OK && r.seq == 0)) {
    // Damaged or unattributable: never acted on, always reported (sequence 0).
    reply_bad_frame(e == E_OK ? E_SYNTAX : e);
    return;
  }
  if (have_last && r.seq == last_seq && r.crc == last_crc) {
    // A retry of the request we already executed: repeat its reply, never the action.
    Serial.write((const uint8_t *)last_reply, last_reply_len);
    return;
  }
  if (e != E_OK) {  // intact frame, sequence parsed, bad arguments
    reply_error(r, e);
    return;
  }
  execute(r);
}

static void dist_poll() {
  if (!dist_pending || mb_state != MB_DONE) return;
  mb_state = MB_IDLE;
  dist_pending = false;
  if (mb_result != modbus::OK) return reply_error(dist_req, E_SENSOR, modbus::result_word(mb_result));
  Writer w(reply_buf, sizeof reply_buf);
  begin_ok(w, dist_req.seq);
  w.sp().unum(mb_value_um);
  send_reply(w, true, dist_req.seq, dist_req.crc);
}

void setup() {
  pStep.init(PIN_STEP);
  pDir.init(PIN_DIR);
  pEn.init(PIN_ENABLE);
  pTrig.init(PIN_TRIG_OUT);
  pDe.init(PIN_RS485_DE);
  pLimMin.init(PIN_LIMIT_MIN);
  pLimMax.init(PIN_LIMIT_MAX);
  digitalWrite(PIN_ENABLE, HIGH);  // driver off until the first move
  pinMode(PIN_ENABLE, OUTPUT);
  pinMode(PIN_STEP, OUTPUT);
  pinMode(PIN_DIR, OUTPUT);
  pinMode(PIN_TRIG_OUT, OUTPUT);
  pinMode(PIN_RS485_DE, OUTPUT);
  digitalWrite(PIN_RS485_DE, LOW);  // listen by default
  pinMode(PIN_LIMIT_MIN, INPUT_PULLUP);
  pinMode(PIN_LIMIT_MAX, INPUT_PULLUP);
  pinMode(PIN_TRIG_IN, INPUT);
  pinMode(PIN_ESTOP, INPUT_PULLUP);

  EEPROM.get(0, cfg);
  if (!settings_valid(cfg)) {
    settings_defaults(&cfg);
    save_settings();
  }

  Serial.begin(HOST_BAUD);
  SENSOR.begin(SENSOR_BAUD);
  attachInterrupt(digitalPinToInterrupt(PIN_TRIG_IN), trig_in_isr, RISING);
  attachInterrupt(digitalPinToInterrupt(PIN_ESTOP), estop_isr, FALLING);
  wdt_enable(WDTO_500MS);

  // Unsolicited boot banner (sequence 0): tells a connected host that the board reset.
  Writer w(reply_buf, sizeof reply_buf);
  w.str("0 BOOT ").str(FW_NAME).sp().str(FW_VERSION).sp().str(BOARD_NAME).sp().unum(g_reset_cause);
  send_reply(w, false, 0, 0);
}

void loop() {
  wdt_reset();
  // Lines are not read while a deferred reply is pending: one request, one reply, in order.
  while (!dist_pending && Serial.available()) {
    LineAssembler::Event ev = assembler.feed((uint8_t)Serial.read());
    if (ev == LineAssembler::LINE) {
      handle_line(assembler.line(), assembler.length());
    } else if (ev == LineAssembler::OVERFLOW) {
      reply_bad_frame(E_SYNTAX);
    }
  }
  mb_poll();
  dist_poll();
  sweep_poll();
  home_poll();
}
