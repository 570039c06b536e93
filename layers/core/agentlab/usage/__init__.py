"""What runs cost beyond the model: AWS prices as data, the quantities each step measures, and their cost."""
