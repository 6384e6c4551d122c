"""agentgym.results"""
