/*
 * Rates the scmi-dt worked example (README) gives the Raspberry Pi 4's clocks
 * where its devicetree gives none. Illustrative bounds for a guest, chosen for
 * the example: take the real ones from the SoC's documentation.
 */
#define RPI4_CPRMAN_MIN_HZ	 1000000
#define RPI4_CPRMAN_MAX_HZ	 250000000
#define RPI4_CPRMAN_STEP_HZ	 1000000

#define RPI4_FIRMWARE_MIN_HZ	 250000000
#define RPI4_FIRMWARE_MAX_HZ	 500000000
#define RPI4_FIRMWARE_STEP_HZ	 250000000

/* The SD card's I/O rail switches between 1.8 V and 3.3 V only. */
#define RPI4_SD_IO_STEP_UV	 1500000
