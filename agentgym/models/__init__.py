"""agentgym.models"""
