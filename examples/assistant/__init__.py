"""The demo assistant: a router, three agents, skills and streamed answers, under a ramp.

It is modelled on a production jobs assistant and uses only the public tracer API and the
``openai`` client, as a user's agent would. ``python -m examples.assistant --help`` runs it
under traffic; ``agentflight up --demo`` starts it beside the simulator and the dashboard.
"""
