"""What a user does on the pipeline board in the browser: find a card or a column, drag."""

from __future__ import annotations


def card(page, record_id):
    return page.locator(f'[data-card][data-id="{record_id}"]')


def column(page, stage):
    return page.locator(f'.board-column [data-cards][data-stage="{stage}"]')


def drag(page, source, target, by=None):
    """Mouse drag with intermediate steps (SortableJS runs in fallback mode), from the
    card's footer or, with ``by``, from that part of it (e.g. its title link)."""
    source.scroll_into_view_if_needed()
    box = source.bounding_box()
    goal = target.bounding_box()
    start_x, start_y = box["x"] + box["width"] / 2, box["y"] + box["height"] - 14
    if by is not None:
        part = source.locator(by).bounding_box()
        start_x, start_y = part["x"] + min(part["width"] / 2, 40), part["y"] + part["height"] / 2
    page.mouse.move(start_x, start_y)
    page.mouse.down()
    page.mouse.move(start_x + 10, start_y + 10, steps=4)
    x, y = goal["x"] + goal["width"] / 2, goal["y"] + min(goal["height"] / 2, 80)
    page.mouse.move(x, y, steps=12)
    page.mouse.move(x + 2, y + 4, steps=2)
    page.mouse.up()


def save_and_move(dialog):
    """Press the move dialog's "Save and move" as a person does, the button held for
    150 ms: leaving the field just typed in re-renders the dialog meanwhile, and the
    click must still land (it was lost when the re-render replaced the button)."""
    dialog.get_by_role("button", name="Save and move").click(delay=150)
