"""Fine-tuning: config, datasets and safe archives, strategies, the loop, estimates, background jobs."""
