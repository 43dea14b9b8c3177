"""SLO math: durations, exact numbers, alert windows and burn rates."""
