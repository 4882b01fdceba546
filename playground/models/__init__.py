"""Pretrained models: the registry, the fine-tuned model folder format, inference, EfficientNet-Lite."""
