// CRC routines shared by the host link (CRC-16/CCITT-FALSE) and the RS-485 sensor (Modbus CRC16).
// Pure C++: compiled both for the AVR and for the host-side unit tests.
#pragma once
#include <stddef.h>
#include <stdint.h>

// CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final xor.
// Check value for "123456789" is 0x29B1.
uint16_t crc16_ccitt(const uint8_t *data, size_t len, uint16_t crc = 0xFFFF);

// Modbus RTU CRC16: poly 0xA001 (reflected 0x8005), init 0xFFFF, sent low byte first.
// Check value for "123456789" is 0x4B37.
uint16_t crc16_modbus(const uint8_t *data, size_t len);
