"""The trainee kiosk: touch-screen pages and their routes (kiosk issue)."""
