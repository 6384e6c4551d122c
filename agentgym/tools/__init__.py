"""agentgym.tools"""
