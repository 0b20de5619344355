import cairo, math
def doc(path, fn, w=612, h=792):
    s = cairo.PDFSurface(path, w, h)
    c = cairo.Context(s)
    fn(c)
    s.finish()

def page1(c):
    c.select_font_face("DejaVu Sans"); c.set_font_size(11)
    c.move_to(72, 100); c.show_text("Cairo with DejaVu Sans: [sig|req|signer1|Signature|sig1] done")
    c.select_font_face("Liberation Serif", cairo.FONT_SLANT_ITALIC, cairo.FONT_WEIGHT_BOLD); c.set_font_size(14)
    c.move_to(72, 140); c.show_text("[date|req|signer1]")
    c.select_font_face("Liberation Mono"); c.set_font_size(9)
    c.move_to(72, 170); c.show_text("[text|req|signer2|Ümlaut näme|name_id]")
    # rotated text in content (not /Rotate)
    c.save(); c.translate(500, 400); c.rotate(-math.pi/2)
    c.select_font_face("DejaVu Sans"); c.set_font_size(12)
    c.move_to(0, 0); c.show_text("[initial|req|signer2]"); c.restore()
    c.save(); c.translate(300, 600); c.rotate(math.pi/2)
    c.move_to(0, 0); c.show_text("[check|noreq|signer1]"); c.restore()
    # scaled
    c.save(); c.scale(1.8, 1.8); c.select_font_face("Liberation Sans"); c.set_font_size(10)
    c.move_to(40, 380); c.show_text("[sig|req|signer2]"); c.restore()
    # glyph by glyph with letter spacing
    c.select_font_face("Liberation Sans"); c.set_font_size(12)
    x = 72
    for ch in "[text|noreq|signer1|Spaced]":
        c.move_to(x, 250); c.show_text(ch); x += c.text_extents(ch).x_advance + 0.4
    c.show_page()
    c.select_font_face("DejaVu Serif"); c.set_font_size(10)
    c.move_to(72, 72); c.show_text("Second page [sig|req|signer3] and [date|req|signer3]")
doc("cairo.pdf", page1)
