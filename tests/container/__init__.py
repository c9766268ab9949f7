"""Container tests: the real image, built and run by SAM CLI on a real engine."""
