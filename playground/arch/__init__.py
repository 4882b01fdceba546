"""Real architectures: report objects, the torch.fx graph walk, measurement, the landmark catalogue."""
