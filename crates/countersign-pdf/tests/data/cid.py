import cairo
s = cairo.PDFSurface("cid.pdf", 612, 792); c = cairo.Context(s)
c.select_font_face("DejaVu Sans"); c.set_font_size(8)
chars = [chr(x) for x in list(range(0x391,0x3CA))+list(range(0x410,0x450))+list(range(0xC0,0x180))]
y=60
for i in range(0, len(chars), 60):
    c.move_to(40, y); c.show_text("".join(chars[i:i+60])); y += 14
c.set_font_size(12)
c.move_to(72, 400); c.show_text("Ωμέγα [sig|req|signer1|Υπογραφή|sig_gr] τέλος")
c.move_to(72, 430); c.show_text("[text|req|signer2|Имя|name_ru]")
s.finish()
