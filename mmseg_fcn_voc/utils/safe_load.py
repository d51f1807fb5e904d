# placeholder, replaced below
def register_checkpoint_safe_globals():
    return None
