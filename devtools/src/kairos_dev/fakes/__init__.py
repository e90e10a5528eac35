"""Local stand-ins for the clouds that can't run here (SMS, web push, Google, Microsoft,
LiveKit). Each is a real server speaking its provider's wire protocol, so the real SDK
talks to it; `make dev` runs them and the tests start them. One module per provider."""
