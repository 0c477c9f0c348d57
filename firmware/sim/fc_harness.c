/*
 * fc_harness: runs the focus-controller firmware ELF in simavr (ATmega2560) with
 *   - UART0 bridged to a pseudo-terminal (the "USB serial port" the host driver opens),
 *     with optional byte-fault injection in both directions (drop / corrupt), each fault
 *     logged, and the delivered byte streams recorded so tests can audit every damaged line;
 *   - a simulated Modbus RTU distance sensor on UART1 that only hears bytes sent while the
 *     RS-485 DE pin is high and whose reply is lost if DE is still high when it answers;
 *   - a mechanical model of the axis: STEP/DIR edges move a physical position, which drives
 *     the MIN/MAX limit-switch inputs and the sensor reading;
 *   - every STEP/DIR/EN/TRIG/DE edge written to a log with its CPU cycle timestamp.
 * Control lines on stdin (each acknowledged on stdout): see usage().
 * Runs at most at real time (sleeps when ahead of the wall clock) to spare shared CPUs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pty.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "avr_ioport.h"
#include "avr_uart.h"
#include "sim_avr.h"
#include "sim_elf.h"
#include "sim_irq.h"
#include "sim_cycle_timers.h"

/* Mega pin map (firmware/focus_controller/board.h) */
enum { A_STEP = 0, A_DIR, A_EN, A_TRIG, A_DE };
enum { C_LMIN = 0, C_LMAX = 1 };
#define PINC_ADDR 0x26 /* ATmega2560 PINC in data space */
enum { E_TRIGIN = 4, E_ESTOP = 5 };
static const char *out_names[] = {"STEP", "DIR", "EN", "TRIG", "DE"};

static avr_t *avr;
static uint32_t freq = 16000000;
static FILE *edges, *faultlog, *to_fw_dlv, *to_host_dlv, *to_fw_orig, *to_host_orig;
static int pty_master = -1, pty_slave = -1;
static int throttle = 1;
static struct timespec t_start;

/* axis model */
static int64_t phys = 300, travel = 100000;
static uint64_t step_count = 0;
static int pin_level[8] = {0};
static avr_irq_t *irq_lmin, *irq_lmax, *irq_trigin, *irq_estop;

/* host link */
static uint8_t inbuf[65536];
static size_t in_head = 0, in_tail = 0;
static int uart0_xon = 1;
static avr_irq_t *uart0_in;
static uint8_t outq[65536];
static size_t outq_len = 0;
static double p_in = 0.0, p_out = 0.0;
static uint64_t faults_in = 0, faults_out = 0;
static unsigned rng_state = 1;

/* sensor */
static avr_irq_t *uart1_in;
static int uart1_xon = 1;
static uint8_t sreq[32];
static int sreq_len = 0;
static avr_cycle_count_t sreq_last = 0;
static uint8_t sreply[16];
static int sreply_len = 0, sreply_pos = 0;
static int sensor_addr = 1;
static double base_um = 250000.0, um_per_step = 5.0;
static int s_drop = 0, s_corrupt = 0, s_exception = 0;
static uint64_t sensor_requests = 0, sensor_replies = 0, bus_lost = 0, reply_lost = 0;

/* DTR auto-reset emulation: opening the port resets the board into its bootloader */
static int dtr_reset_ms = 0;
static int host_open = 0;
static avr_cycle_count_t boot_until = 0;
static volatile int reset_request = 0;
static uint64_t boot_dropped = 0, dtr_resets = 0;

/* trigger-in pulse generator */
static int trigin_left = 0;
static avr_cycle_count_t trigin_half = 0;

static unsigned rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 17;
  rng_state ^= rng_state << 5;
  return rng_state;
}
static double rnd01(void) { return (rnd() & 0xFFFFFF) / (double)0x1000000; }

/* Switches pull to GND. The PIN bits are also written directly: the ioport IRQ alone can be
 * overridden when the firmware rewrites PORTC (pull-up configuration). */
static void raise_if(avr_irq_t *irq, uint32_t v) {
  if (irq) avr_raise_irq(irq, v);
}

static void update_limits(void) {
  int lmin = phys <= 0 ? 0 : 1, lmax = phys >= travel ? 0 : 1;
  raise_if(irq_lmin, (uint32_t)lmin);
  raise_if(irq_lmax, (uint32_t)lmax);
  uint8_t v = avr->data[PINC_ADDR];
  v = (uint8_t)((v & ~((1 << C_LMIN) | (1 << C_LMAX))) | (lmin << C_LMIN) | (lmax << C_LMAX));
  avr->data[PINC_ADDR] = v;
}

static void pin_notify(avr_irq_t *irq, uint32_t value, void *param) {
  (void)irq;
  int bit = (int)(intptr_t)param;
  value = value ? 1 : 0;
  if (pin_level[bit] == (int)value) return;
  pin_level[bit] = (int)value;
  if (edges) fprintf(edges, "%llu %s %u\n", (unsigned long long)avr->cycle, out_names[bit], value);
  if (bit == A_STEP && value) {
    phys += pin_level[A_DIR] ? 1 : -1;
    step_count++;
    update_limits();
  }
}

/* ---- UART0 <-> pty ---- */
static void flush_outq(void) {
  size_t off = 0;
  while (off < outq_len) {
    ssize_t n = write(pty_master, outq + off, outq_len - off);
    if (n <= 0) break;
    off += (size_t)n;
  }
  if (off) {
    memmove(outq, outq + off, outq_len - off);
    outq_len -= off;
  }
}

static void uart0_out(avr_irq_t *irq, uint32_t value, void *param) {
  (void)irq; (void)param;
  uint8_t b = (uint8_t)value;
  if (boot_until) return;  /* the bootloader owns the line; the old sketch is being reset */
  if (to_host_orig) fputc(b, to_host_orig);
  if (p_out > 0 && rnd01() < p_out) {
    faults_out++;
    if (rnd() & 1) {
      if (faultlog) fprintf(faultlog, "%llu to_host drop %u -\n", (unsigned long long)avr->cycle, b);
      return;
    }
    uint8_t nb = b ^ (uint8_t)(1 + rnd() % 255);
    if (faultlog) fprintf(faultlog, "%llu to_host corrupt %u %u\n", (unsigned long long)avr->cycle, b, nb);
    b = nb;
  }
  if (to_host_dlv) fputc(b, to_host_dlv);
  if (outq_len < sizeof outq) outq[outq_len++] = b;
  if (b == '\n') {
    flush_outq();
    if (edges) fflush(edges);
  }
}

static void push_host_bytes(void) {
  while (uart0_xon && in_head != in_tail) {
    uint8_t b = inbuf[in_tail];
    in_tail = (in_tail + 1) % sizeof inbuf;
    if (to_fw_orig) fputc(b, to_fw_orig);
    if (p_in > 0 && rnd01() < p_in) {
      faults_in++;
      if (rnd() & 1) {
        if (faultlog) fprintf(faultlog, "%llu to_fw drop %u -\n", (unsigned long long)avr->cycle, b);
        continue;
      }
      uint8_t nb = b ^ (uint8_t)(1 + rnd() % 255);
      if (faultlog) fprintf(faultlog, "%llu to_fw corrupt %u %u\n", (unsigned long long)avr->cycle, b, nb);
      b = nb;
    }
    if (to_fw_dlv) fputc(b, to_fw_dlv);
    avr_raise_irq(uart0_in, b);
  }
}

static void uart0_xon_cb(avr_irq_t *irq, uint32_t v, void *p) { (void)irq; (void)v; (void)p; uart0_xon = 1; push_host_bytes(); }
static void uart0_xoff_cb(avr_irq_t *irq, uint32_t v, void *p) { (void)irq; (void)v; (void)p; uart0_xon = 0; }

/* ---- simulated Modbus RTU sensor on UART1 ---- */
static uint16_t mb_crc(const uint8_t *d, int n) {
  uint16_t c = 0xFFFF;
  for (int i = 0; i < n; i++) {
    c ^= d[i];
    for (int b = 0; b < 8; b++) c = (c & 1) ? (uint16_t)((c >> 1) ^ 0xA001) : (uint16_t)(c >> 1);
  }
  return c;
}

static void push_sensor_bytes(void) {
  while (uart1_xon && sreply_pos < sreply_len) avr_raise_irq(uart1_in, sreply[sreply_pos++]);
}

static avr_cycle_count_t sensor_answer(avr_t *a, avr_cycle_count_t when, void *param) {
  (void)a; (void)when; (void)param;
  if (pin_level[A_DE]) {  /* master still driving the bus: its receiver is off */
    reply_lost++;
    if (edges) fprintf(edges, "%llu SENSOR_LOST 1\n", (unsigned long long)avr->cycle);
    return 0;
  }
  sreply_pos = 0;
  push_sensor_bytes();
  return 0;
}

static void sensor_request(void) {
  sensor_requests++;
  uint16_t crc = mb_crc(sreq, 6);
  if (sreq[0] != sensor_addr || sreq[6] != (uint8_t)crc || sreq[7] != (uint8_t)(crc >> 8)) return;
  int count = (sreq[4] << 8) | sreq[5];
  int64_t d = (int64_t)(base_um + (double)phys * um_per_step + 0.5);
  if (d < 0) d = 0;
  if (edges) fprintf(edges, "%llu SENSOR_REQ %lld\n", (unsigned long long)avr->cycle, (long long)d);
  if (s_drop > 0) { s_drop--; return; }
  int n = 0;
  sreply[n++] = (uint8_t)sensor_addr;
  if (s_exception > 0 || sreq[1] != 3 || count < 1 || count > 2) {
    if (s_exception > 0) s_exception--;
    sreply[n++] = 0x83;
    sreply[n++] = 2;
  } else {
    uint32_t v = count == 2 ? (uint32_t)d : (uint32_t)(d & 0xFFFF);
    sreply[n++] = 3;
    sreply[n++] = (uint8_t)(2 * count);
    if (count == 2) { sreply[n++] = (uint8_t)(v >> 24); sreply[n++] = (uint8_t)(v >> 16); }
    sreply[n++] = (uint8_t)(v >> 8);
    sreply[n++] = (uint8_t)v;
  }
  uint16_t c = mb_crc(sreply, n);
  sreply[n++] = (uint8_t)c;
  sreply[n++] = (uint8_t)(c >> 8);
  if (s_corrupt > 0) { s_corrupt--; sreply[n - 1] ^= 0x5A; }
  sreply_len = n;
  sensor_replies++;
  /* answer 2 ms after the request: a typical sensor turnaround */
  avr_cycle_timer_register(avr, freq / 500, sensor_answer, NULL);
}

static void uart1_out(avr_irq_t *irq, uint32_t value, void *param) {
  (void)irq; (void)param;
  if (!pin_level[A_DE]) { bus_lost++; return; }  /* transmitter disabled: nothing on the bus */
  /* Modbus RTU framing: a silence of more than 3.5 characters starts a new frame */
  if (sreq_len && avr->cycle - sreq_last > (avr_cycle_count_t)freq / 500) sreq_len = 0;
  sreq_last = avr->cycle;
  if (sreq_len < (int)sizeof sreq) sreq[sreq_len++] = (uint8_t)value;
  if (sreq_len == 8) { sensor_request(); sreq_len = 0; }
}

static void uart1_xon_cb(avr_irq_t *irq, uint32_t v, void *p) { (void)irq; (void)v; (void)p; uart1_xon = 1; push_sensor_bytes(); }
static void uart1_xoff_cb(avr_irq_t *irq, uint32_t v, void *p) { (void)irq; (void)v; (void)p; uart1_xon = 0; }

/* ---- trigger-in pulses ---- */
static avr_cycle_count_t trigin_tick(avr_t *a, avr_cycle_count_t when, void *param) {
  (void)a; (void)param;
  static int level = 0;
  level = !level;
  raise_if(irq_trigin, (uint32_t)level);
  if (!level && --trigin_left <= 0) return 0;
  return when + trigin_half;
}

/* ---- control channel (stdin) ---- */
static FILE *open_log(const char *dir, const char *name) {
  char p[4096];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  FILE *f = fopen(p, "wb");
  if (!f) { perror(p); exit(2); }
  return f;
}

static void flush_all(void) {
  FILE *fs[] = {edges, faultlog, to_fw_dlv, to_host_dlv, to_fw_orig, to_host_orig};
  for (unsigned i = 0; i < sizeof fs / sizeof fs[0]; i++) if (fs[i]) fflush(fs[i]);
}

static void control(char *line) {
  char cmd[32] = "", a1[4096] = "", a2[64] = "", a3[64] = "";
  int n = sscanf(line, "%31s %4095s %63s %63s", cmd, a1, a2, a3);
  if (n < 1) return;
  if (!strcmp(cmd, "faults") && n >= 2) {
    if (!strcmp(a1, "off")) {
      p_in = p_out = 0;
      FILE **fs[] = {&faultlog, &to_fw_dlv, &to_host_dlv, &to_fw_orig, &to_host_orig};
      for (unsigned i = 0; i < 5; i++) if (*fs[i]) { fclose(*fs[i]); *fs[i] = NULL; }
    } else if (n >= 4) {
      /* faults P_IN P_OUT SEED [DIR]; streams are recorded into DIR given by --audit-dir */
      p_in = atof(a1);
      p_out = atof(a2);
      rng_state = (unsigned)strtoul(a3, NULL, 10) | 1u;
    }
  } else if (!strcmp(cmd, "audit") && n >= 2) {
    faultlog = open_log(a1, "faults.log");
    to_fw_dlv = open_log(a1, "to_fw.delivered");
    to_host_dlv = open_log(a1, "to_host.delivered");
    to_fw_orig = open_log(a1, "to_fw.original");
    to_host_orig = open_log(a1, "to_host.original");
  } else if (!strcmp(cmd, "sensor") && n >= 3) {
    int v = atoi(a2);
    if (!strcmp(a1, "drop")) s_drop = v;
    else if (!strcmp(a1, "corrupt")) s_corrupt = v;
    else if (!strcmp(a1, "exception")) s_exception = v;
    else if (!strcmp(a1, "base_um")) base_um = atof(a2);
    else if (!strcmp(a1, "um_per_step")) um_per_step = atof(a2);
  } else if (!strcmp(cmd, "trigin") && n >= 3) {
    trigin_left = atoi(a1);
    trigin_half = (avr_cycle_count_t)((double)freq * atof(a2) / 2e6);
    if (trigin_half < 16) trigin_half = 16;
    avr_cycle_timer_register(avr, trigin_half, trigin_tick, NULL);
  } else if (!strcmp(cmd, "estop") && n >= 2) {
    raise_if(irq_estop, atoi(a1) ? 0 : 1);
  } else if (!strcmp(cmd, "quit")) {
    flush_all();
    printf("ACK quit\n");
    fflush(stdout);
    exit(0);
  }
  flush_all();
  printf("ACK %s phys=%lld steps=%llu cycle=%llu faults_in=%llu faults_out=%llu "
         "sensor_req=%llu sensor_rep=%llu bus_lost=%llu reply_lost=%llu pc=%u state=%d "
         "dtr_resets=%llu boot_dropped=%llu\n",
         cmd, (long long)phys, (unsigned long long)step_count, (unsigned long long)avr->cycle,
         (unsigned long long)faults_in, (unsigned long long)faults_out,
         (unsigned long long)sensor_requests, (unsigned long long)sensor_replies,
         (unsigned long long)bus_lost, (unsigned long long)reply_lost, (unsigned)avr->pc, (int)avr->state,
         (unsigned long long)dtr_resets, (unsigned long long)boot_dropped);
  fflush(stdout);
}

static char ctl[8192];
static size_t ctl_len = 0;

static void poll_io(void) {
  uint8_t buf[4096];
  for (;;) {
    size_t space = sizeof inbuf - 1 - ((in_head + sizeof inbuf - in_tail) % sizeof inbuf);
    if (space == 0) break;
    ssize_t n = read(pty_master, buf, space < sizeof buf ? space : sizeof buf);
    if (n < 0 && errno == EIO) { host_open = 0; break; }  /* nobody has the port open */
    if (!host_open) {
      host_open = 1;
      if (dtr_reset_ms) {  /* DTR fell: reset, bootloader listens, then the sketch starts */
        dtr_resets++;
        boot_until = avr->cycle + (avr_cycle_count_t)dtr_reset_ms * (freq / 1000);
        in_head = in_tail = 0;
        outq_len = 0;
      }
    }
    if (n <= 0) break;
    if (boot_until) { boot_dropped += (uint64_t)n; continue; }
    for (ssize_t i = 0; i < n; i++) { inbuf[in_head] = buf[i]; in_head = (in_head + 1) % sizeof inbuf; }
  }
  push_host_bytes();
  if (outq_len) flush_outq();
  ssize_t n = read(0, ctl + ctl_len, sizeof ctl - 1 - ctl_len);
  if (n == 0) { flush_all(); exit(0); }  /* controller went away */
  if (n > 0) {
    ctl_len += (size_t)n;
    char *nl;
    while ((nl = memchr(ctl, '\n', ctl_len))) {
      *nl = 0;
      control(ctl);
      size_t used = (size_t)(nl - ctl) + 1;
      memmove(ctl, ctl + used, ctl_len - used);
      ctl_len -= used;
    }
  }
}

static avr_cycle_count_t poll_tick(avr_t *a, avr_cycle_count_t when, void *param) {
  (void)a; (void)param;
  if (boot_until && avr->cycle >= boot_until) reset_request = 1;
  update_limits();
  poll_io();
  if (throttle) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double wall = (double)(now.tv_sec - t_start.tv_sec) + (now.tv_nsec - t_start.tv_nsec) * 1e-9;
    double sim = (double)avr->cycle / freq;
    if (sim > wall + 0.002) {
      double d = sim - wall;
      struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
      nanosleep(&ts, NULL);
    }
  }
  return when + freq / 4000;  /* every 250 us of simulated time */
}

static int uart1_present(void) { return avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('1'), 0) != NULL; }

static void usage(void) {
  fprintf(stderr,
          "usage: fc_harness --elf FW.elf [--pty-link PATH] [--edges LOG] [--start-pos N]\n"
          "                  [--dtr-reset-ms MS] [--mcu atmega2560|atmega328p]\n"
          "                  [--travel N] [--sensor-base-um X] [--um-per-step X] [--no-throttle]\n"
          "stdin: audit DIR | faults P_IN P_OUT SEED | faults off | sensor drop|corrupt|exception N\n"
          "       sensor base_um X | sensor um_per_step X | trigin N PERIOD_US | estop 0|1\n"
          "       flush | quit\n");
  exit(2);
}

int main(int argc, char **argv) {
  const char *elf = NULL, *link = NULL, *edges_path = NULL, *mcu = "atmega2560";
  static struct option opts[] = {
      {"elf", 1, 0, 'e'}, {"pty-link", 1, 0, 'l'}, {"edges", 1, 0, 'g'},
      {"start-pos", 1, 0, 's'}, {"travel", 1, 0, 't'}, {"sensor-base-um", 1, 0, 'b'},
      {"um-per-step", 1, 0, 'u'}, {"no-throttle", 0, 0, 'n'}, {"mcu", 1, 0, 'm'},
      {"dtr-reset-ms", 1, 0, 'r'}, {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
      case 'e': elf = optarg; break;
      case 'l': link = optarg; break;
      case 'g': edges_path = optarg; break;
      case 's': phys = atoll(optarg); break;
      case 't': travel = atoll(optarg); break;
      case 'b': base_um = atof(optarg); break;
      case 'u': um_per_step = atof(optarg); break;
      case 'n': throttle = 0; break;
      case 'm': mcu = optarg; break;
      case 'r': dtr_reset_ms = atoi(optarg); break;
      default: usage();
    }
  }
  if (!elf) usage();
  signal(SIGPIPE, SIG_IGN);

  elf_firmware_t f;
  memset(&f, 0, sizeof f);
  if (elf_read_firmware(elf, &f) != 0) { fprintf(stderr, "cannot read %s\n", elf); return 2; }
  avr = avr_make_mcu_by_name(mcu);
  if (!avr) { fprintf(stderr, "unknown mcu %s\n", mcu); return 2; }
  avr_init(avr);
  avr->log = getenv("FC_SIM_LOG") ? atoi(getenv("FC_SIM_LOG")) : 0;
  avr_load_firmware(avr, &f);
  avr->frequency = freq;

  if (edges_path) {
    edges = fopen(edges_path, "w");
    if (!edges) { perror(edges_path); return 2; }
  }

  for (int i = 0; i < (uart1_present() ? 2 : 1); i++) {
    uint32_t flags = 0;
    avr_ioctl(avr, AVR_IOCTL_UART_GET_FLAGS('0' + i), &flags);
    flags &= ~AVR_UART_FLAG_STDIO;
    avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0' + i), &flags);
  }

  struct termios tio;
  if (openpty(&pty_master, &pty_slave, NULL, NULL, NULL) < 0) { perror("openpty"); return 2; }
  tcgetattr(pty_slave, &tio);
  cfmakeraw(&tio);
  tcsetattr(pty_slave, TCSANOW, &tio);
  fcntl(pty_master, F_SETFL, fcntl(pty_master, F_GETFL) | O_NONBLOCK);
  fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
  const char *slave_name = strdup(ttyname(pty_slave));
  if (link) {
    unlink(link);
    if (symlink(slave_name, link) != 0) { perror("symlink"); return 2; }
  }
  /* With DTR emulation the harness must see when the host opens the port (master reads
   * stop failing with EIO), so it does not keep the slave side open itself. */
  if (dtr_reset_ms) close(pty_slave);

  for (int bit = A_STEP; bit <= A_DE; bit++) {
    avr_irq_t *irq = avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ('A'), bit);
    if (irq) avr_irq_register_notify(irq, pin_notify, (void *)(intptr_t)bit);  /* Mega only */
  }
  irq_lmin = avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ('C'), C_LMIN);
  irq_lmax = avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ('C'), C_LMAX);
  irq_trigin = avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ('E'), E_TRIGIN);
  irq_estop = avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ('E'), E_ESTOP);
  update_limits();
  raise_if(irq_trigin, 0);
  raise_if(irq_estop, 1);

  uart0_in = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT);
  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUTPUT), uart0_out, NULL);
  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XON), uart0_xon_cb, NULL);
  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XOFF), uart0_xoff_cb, NULL);
  uart1_in = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('1'), UART_IRQ_INPUT);
  if (uart1_in) {  /* the ATmega328P (Uno) has no second UART: no simulated sensor there */
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('1'), UART_IRQ_OUTPUT), uart1_out, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('1'), UART_IRQ_OUT_XON), uart1_xon_cb, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('1'), UART_IRQ_OUT_XOFF), uart1_xoff_cb, NULL);
  }

  avr_cycle_timer_register(avr, freq / 4000, poll_tick, NULL);
  clock_gettime(CLOCK_MONOTONIC, &t_start);
  printf("PTY %s\n", slave_name);
  fflush(stdout);

  for (unsigned long it = 0;; it++) {
    int state = avr_run(avr);
    if (reset_request) {  /* outside any callback: avr_reset must not run inside one */
      reset_request = 0;
      boot_until = 0;
      avr_reset(avr);
    }
    /* A watchdog reset (avr_reset) drops every cycle timer: re-arm polling and the inputs. */
    if ((it & 1023) == 0 && !avr_cycle_timer_status(avr, poll_tick, NULL)) {
      avr_cycle_timer_register(avr, freq / 4000, poll_tick, NULL);
      if (edges) fprintf(edges, "%llu RESET 1\n", (unsigned long long)avr->cycle);
      update_limits();
      raise_if(irq_estop, 1);
    }
    if (state == cpu_Done || state == cpu_Crashed) {
      flush_all();
      fprintf(stderr, "avr stopped: state %d at cycle %llu\n", state, (unsigned long long)avr->cycle);
      return state == cpu_Crashed ? 3 : 0;
    }
  }
}
