"""Built-in prompt texts used when a flow defines none (the prompt renderer renders these too)."""

APOLOGY = "We are sorry, something went wrong on our side. Please hold while we connect you to an agent."
INVALID = "Sorry, that is not one of the choices."
NO_INPUT = "Sorry, I did not hear your choice."
REPROMPT = "Sorry, I did not catch that. Please say it again, or use your keypad."
KEYPAD = "Sorry, please use your telephone keypad."
INVALID_DIGITS = "Sorry, that number is not valid."

BUILTIN_TEXTS: tuple[str, ...] = (APOLOGY, INVALID, NO_INPUT, REPROMPT, KEYPAD, INVALID_DIGITS)
