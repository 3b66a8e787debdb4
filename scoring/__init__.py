"""Pure scoring functions: papers, grading, checklists, device scores, decisions, item analysis (assessment issue)."""
