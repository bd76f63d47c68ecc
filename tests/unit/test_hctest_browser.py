"""hctest.browser.screenshot renders a local HTML page into a PNG of the window size, as it looks."""

from PIL import Image
from hctest.browser import screenshot


def test_screenshot_renders_the_page(tmp_path):
    html = tmp_path / "page.html"
    html.write_text('<html><body style="margin:0;background:#ffffff">'
                    '<div style="width:200px;height:100px;background:#ff0000"></div></body></html>')
    png = screenshot(html, tmp_path / "page.png", window="400,300")
    img = Image.open(png).convert("RGB")
    assert img.size == (400, 300)
    assert img.getpixel((50, 50)) == (255, 0, 0)       # inside the red block
    assert img.getpixel((350, 250)) == (255, 255, 255)  # the white page around it
