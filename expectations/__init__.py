"""Great Expectations suites (one JSON per input table) and the runner that turns results into issues."""
