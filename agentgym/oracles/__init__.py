"""agentgym.oracles"""
