"""SleepLM pretraining on simulated nights: data, losses, loop, held-out report."""
