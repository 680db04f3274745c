"""mintrace operator CLI, dev stack and producer simulator."""
