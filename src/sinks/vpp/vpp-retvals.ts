/** A few of VPP's api_errno values, to make failures readable. */
const VPP_ERRORS: Record<number, string> = {
  [-1]: 'UNSPECIFIED',
  [-2]: 'INVALID_SW_IF_INDEX',
  [-3]: 'NO_SUCH_FIB',
  [-6]: 'NO_SUCH_ENTRY',
  [-7]: 'INVALID_VALUE',
  [-52]: 'NO_PATHS_IN_ROUTE',
  [-99]: 'TABLE_TOO_BIG',
  [-165]: 'EAGAIN',
  [-171]: 'INVALID_PREFIX_LENGTH',
};
export const VPP_EAGAIN = -165;

export function vppErrorName(retval: number): string {
  return VPP_ERRORS[retval] ?? 'error';
}
