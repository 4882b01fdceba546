"""Helpers the tests share: fake job runners, sample data, AppTest page runners, Hypothesis strategies."""
