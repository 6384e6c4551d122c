"""agentgym.sources"""
