// Pin map per board (docs/firmware.md has the wiring tables). Only this file knows pins.
#pragma once

#if defined(__AVR_ATmega2560__)
#define BOARD_NAME "mega"
// Outputs on port A (D22..D26). The limit inputs sit on port C, which the sketch never writes
// after setup (read-modify-writes of an output port would also rewrite its pull-up bits).
#define PIN_STEP 22       // PA0
#define PIN_DIR 23        // PA1
#define PIN_ENABLE 24     // PA2, active low (A4988/DRV8825/TB6600 ENA)
#define PIN_TRIG_OUT 25   // PA3, camera trigger, active high
#define PIN_RS485_DE 26   // PA4, MAX485 DE and /RE tied together
#define PIN_LIMIT_MIN 37  // PC0, switch to GND, internal pull-up
#define PIN_LIMIT_MAX 36  // PC1, switch to GND, internal pull-up
#define PIN_TRIG_IN 2     // PE4 / INT4, camera exposure-active or strobe output
#define PIN_ESTOP 3       // PE5 / INT5, normally-open button to GND: pressing it = e-stop
#define SENSOR_HW_SERIAL 1  // Serial1: RX1 = D19, TX1 = D18
#else
#define BOARD_NAME "uno"
#define PIN_STEP 4
#define PIN_DIR 5
#define PIN_ENABLE 6
#define PIN_TRIG_OUT 7
#define PIN_RS485_DE 10
#define PIN_LIMIT_MIN 11
#define PIN_LIMIT_MAX 12
#define PIN_TRIG_IN 2     // INT0
#define PIN_ESTOP 3       // INT1
#define PIN_RS485_RX 8    // SoftwareSerial: the only hardware UART is the USB link
#define PIN_RS485_TX 9
#define SENSOR_HW_SERIAL 0
#endif

#define SENSOR_BAUD 19200
#define HOST_BAUD 115200
