"""Device protocol codecs, serial and camera transports, simulators and the gateway (devices issues)."""
