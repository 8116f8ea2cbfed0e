"""Speed measurement: the suite's speed tests (speed), their timing protocol (protocol) and timer."""

TIME_LIMIT_S = 60.0  # one measurement's cap (SPEED_TIME_LIMIT): a GPU's cold start must not hang the suite
