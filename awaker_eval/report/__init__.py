"""Reporting stage: published leaderboard rows, intervals, run comparison, plots and the HTML report."""
