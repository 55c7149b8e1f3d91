"""Metrics: pure functions over (truth, prediction[, boxes]); they never read files or know engines."""
