"""The property-based checks of accel, shipped in the package: the repository's tests and
`accel selftest` use these same functions."""
