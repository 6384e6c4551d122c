"""`agentgym tasks mutate`: bug-fix edit tasks made from a repo's passing test suite by code mutations."""
