"""Cases (工单): the closed loop from report to verified closure, routing, SLA and indicators."""
