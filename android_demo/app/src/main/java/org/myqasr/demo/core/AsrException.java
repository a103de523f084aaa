package org.myqasr.demo.core;

/**
 * A problem the user can act on: a missing or corrupt file, an unsupported WAV, a model that does not match
 * its vocabulary. The message is one complete sentence naming the file or value; the app shows it as is.
 */
public class AsrException extends Exception {
    private static final long serialVersionUID = 1L;

    public AsrException(String message) {
        super(message);
    }

    public AsrException(String message, Throwable cause) {
        super(message, cause);
    }
}
