"""Edit tasks: the agent's change as a patch, the grading tree, the test environment and the grader."""
