package org.myqasr.demo.core;

/**
 * ExecuTorch's {@code runtime/core/error.h} codes, which {@code AsrModule.load()} returns and its exceptions carry,
 * as a name and, where the asr-runner files can cause it, what to do.
 */
public final class RunnerErrors {
    private RunnerErrors() {
    }

    /** The enum name of an ExecuTorch error code, or "error N" for an unknown one. */
    public static String name(int code) {
        switch (code) {
            case 0x00: return "Ok";
            case 0x01: return "Internal";
            case 0x02: return "InvalidState";
            case 0x03: return "EndOfMethod";
            case 0x04: return "AlreadyLoaded";
            case 0x10: return "NotSupported";
            case 0x11: return "NotImplemented";
            case 0x12: return "InvalidArgument";
            case 0x13: return "InvalidType";
            case 0x14: return "OperatorMissing";
            case 0x15: return "RegistrationExceedingMaxKernels";
            case 0x16: return "RegistrationAlreadyRegistered";
            case 0x20: return "NotFound";
            case 0x21: return "MemoryAllocationFailed";
            case 0x22: return "AccessFailed";
            case 0x23: return "InvalidProgram";
            case 0x24: return "InvalidExternalData";
            case 0x25: return "OutOfResources";
            case 0x30: return "DelegateInvalidCompatibility";
            case 0x31: return "DelegateMemoryAllocationFailed";
            case 0x32: return "DelegateInvalidHandle";
            default: return "error " + code;
        }
    }

    /** One sentence for a failed {@code load()}: the code's name and the likely cause among the export's files. */
    public static String loadFailure(String modelName, int code) {
        return modelName + ": the ASR runner cannot load it (" + name(code) + ", code " + code + "): "
                + loadHint(code) + ".";
    }

    /** What an asr-runner user can do about a load error. */
    static String loadHint(int code) {
        switch (code) {
            case 0x20:
            case 0x24:
                return "the .ptd does not belong to this .pte (push model.pte and model.ptd of the same export)";
            case 0x12:
                return "the program lacks the methods encoder and text_decoder (export it again with"
                        + " --target asr-runner)";
            case 0x23:
                return "the .pte is damaged or from another ExecuTorch version (export with executorch "
                        + RuntimeCheck.EXECUTORCH_VERSION + ")";
            case 0x22:
                return "a file cannot be read (copy the export to the phone again)";
            case 0x14:
                return "the program needs an operator this runtime lacks (export with executorch "
                        + RuntimeCheck.EXECUTORCH_VERSION + ")";
            case 0x21:
            case 0x25:
                return "not enough memory on this phone";
            default:
                return "adb logcat shows ExecuTorch's message";
        }
    }
}
