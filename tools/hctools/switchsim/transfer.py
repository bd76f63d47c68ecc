"""The switch's side of a transfer: a real FTP or TFTP client talking to the server in the URL."""

import ftplib
import io
import os
import tempfile


def put(url, password, data):
    if url["scheme"] == "ftp":
        ftp = ftplib.FTP()
        ftp.connect(url["host"], url["port"] or 21, timeout=15)
        try:
            ftp.login(url["user"] or "anonymous", password or "")
            ftp.storbinary("STOR " + url["remote"], io.BytesIO(data))
        finally:
            try:
                ftp.quit()
            except Exception:
                ftp.close()
        return
    import tftpy
    with tempfile.TemporaryDirectory(prefix="switchsim-") as tmp:
        path = os.path.join(tmp, "out")
        with open(path, "wb") as handle:
            handle.write(data)
        client = tftpy.TftpClient(url["host"], url["port"] or 69)
        client.upload(url["remote"], path, timeout=5, retries=2)


def get(url, password, limit):
    if url["scheme"] == "ftp":
        buf = io.BytesIO()
        ftp = ftplib.FTP()
        ftp.connect(url["host"], url["port"] or 21, timeout=15)
        try:
            ftp.login(url["user"] or "anonymous", password or "")

            def sink(chunk):
                buf.write(chunk)
                if buf.tell() > limit:
                    raise IOError("file too big")

            ftp.retrbinary("RETR " + url["remote"], sink)
        finally:
            try:
                ftp.quit()
            except Exception:
                ftp.close()
        return buf.getvalue()
    import tftpy
    with tempfile.TemporaryDirectory(prefix="switchsim-") as tmp:
        path = os.path.join(tmp, "in")
        client = tftpy.TftpClient(url["host"], url["port"] or 69)
        client.download(url["remote"], path, timeout=5, retries=2)
        if os.path.getsize(path) > limit:
            raise IOError("file too big")
        with open(path, "rb") as handle:
            return handle.read()
